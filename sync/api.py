"""/api/stores/<clientKey>/sync*: start a sync and follow its jobs."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import ValidationError

from config_db.errors import Conflict
from config_db.models import first_error
from config_db.mongo import MongoDocument
from config_db.openapi import Operation, operation, path_param, query_param
from config_db.web import context, read_json_object
from stores.api import queries
from stores.params import DEFAULT_LIMIT, MAX_LIMIT
from stores.queries import parse_limit
from sync.errors import SyncRequestInvalid
from sync.orchestration.jobs import JobStore, SyncMode, public_job, utcnow
from sync.orchestration.launcher import SyncLauncher
from sync.orchestration.progress import estimate_job
from sync.orchestration.state import SyncState
from sync.schemas import JobList, SyncJob, SyncRequest, SyncStarted

blueprint = Blueprint("sync", __name__)
EXTENSION = "shopsync.sync"

_KEY = path_param("clientKey", "The store's clientKey")
_LIMIT = query_param(
    "limit",
    f"How many jobs, 1..{MAX_LIMIT} (default {DEFAULT_LIMIT})",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
)
OPENAPI_PATHS: dict[str, dict[str, Operation]] = {
    "/api/stores/{clientKey}/sync": {
        "post": operation(
            "Enqueue a sync of the store (full unless mode says incremental)",
            {202: SyncStarted},
            errors=(400, 404, 409),
            params=[_KEY],
            body=SyncRequest,
            body_required=False,
        )
    },
    "/api/stores/{clientKey}/sync/jobs": {
        "get": operation(
            "The store's recent sync jobs, newest first",
            {200: JobList},
            errors=(400, 404),
            params=[_KEY, _LIMIT],
        )
    },
    "/api/stores/{clientKey}/sync/jobs/{jobId}": {
        "get": operation(
            "One sync job with per-resource progress",
            {200: SyncJob},
            errors=(400, 404),
            params=[_KEY, path_param("jobId", "The job id")],
        )
    },
}


def launcher() -> SyncLauncher:
    found: SyncLauncher = current_app.extensions[EXTENSION]
    return found


def _jobs(client_key: str) -> JobStore:
    return JobStore(queries().get_store_db(client_key))


def _requested_mode() -> SyncMode:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return "full"
    try:
        return SyncRequest.model_validate(read_json_object()).mode
    except ValidationError as error:
        problem = first_error(error)
        raise SyncRequestInvalid(problem.message, field=problem.field) from None


@blueprint.post("/api/stores/<client_key>/sync")
def start_sync(client_key: str) -> tuple[Response, int]:
    """Enqueue a manual sync of an active store."""
    mode = _requested_mode()
    client = context().repository.get_client(client_key)
    if client.get("status") != "active":
        raise Conflict(f"client is {client.get('status')}, not active", field="status")
    launch = launcher().start(client_key, mode, trigger="manual")
    answer = {"clientKey": client_key, "syncJobId": launch.job["_id"], "mode": mode}
    if not launch.enqueued:
        answer["warning"] = "broker unavailable: the scheduler will enqueue this job"
    return jsonify(answer), 202


def _views(client_key: str, jobs: list[MongoDocument]) -> list[MongoDocument]:
    """Jobs as the API shows them, with progress and time left from the store's pace."""
    history = SyncState(queries().get_store_db(client_key)).all()
    parallel, now = context().settings.store_concurrency, utcnow()
    return [public_job(job, estimate_job(job, history, parallel=parallel, now=now)) for job in jobs]


@blueprint.get("/api/stores/<client_key>/sync/jobs")
def list_jobs(client_key: str) -> Response:
    """Recent sync jobs of a store, newest first."""
    jobs = _jobs(client_key).recent(parse_limit(request.args.get("limit")))
    return jsonify({"items": _views(client_key, jobs)})


@blueprint.get("/api/stores/<client_key>/sync/jobs/<job_id>")
def get_job(client_key: str, job_id: str) -> Response:
    """One sync job with its per-resource counts, progress and estimated time left."""
    return jsonify(_views(client_key, [_jobs(client_key).get(job_id)])[0])
