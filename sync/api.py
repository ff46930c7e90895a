"""/api/stores/<clientKey>/sync*: start a sync and follow its jobs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from config_db.errors import Conflict
from config_db.openapi import operation, path_param
from config_db.web import context, read_json_object
from stores.api import queries
from stores.queries import parse_limit
from sync.errors import SyncRequestInvalid
from sync.orchestration.jobs import JobStore, public_job
from sync.orchestration.launcher import SyncLauncher

blueprint = Blueprint("sync", __name__)
EXTENSION = "shopsync.sync"

_KEY = path_param("clientKey", "The store's clientKey")
_MODE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"mode": {"enum": ["full", "incremental"]}},
}
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/stores/{clientKey}/sync": {
        "post": operation(
            "Enqueue a sync of the store (full unless mode says incremental)",
            (202, 400, 401, 404, 409),
            params=[_KEY],
            body=_MODE_SCHEMA,
        )
    },
    "/api/stores/{clientKey}/sync/jobs": {
        "get": operation(
            "The store's recent sync jobs, newest first", (200, 401, 404), params=[_KEY]
        )
    },
    "/api/stores/{clientKey}/sync/jobs/{jobId}": {
        "get": operation(
            "One sync job with per-resource progress",
            (200, 401, 404),
            params=[_KEY, path_param("jobId", "The job id")],
        )
    },
}


def launcher() -> SyncLauncher:
    found: SyncLauncher = current_app.extensions[EXTENSION]
    return found


def _jobs(client_key: str) -> JobStore:
    return JobStore(queries().get_store_db(client_key))


def _requested_mode() -> str:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return "full"
    body = read_json_object()
    unknown = set(body) - {"mode"}
    if unknown:
        raise SyncRequestInvalid(f"{sorted(unknown)[0]}: unknown field", field=sorted(unknown)[0])
    mode = body.get("mode", "full")
    if mode not in ("full", "incremental"):
        raise SyncRequestInvalid("mode: must be full or incremental", field="mode")
    return str(mode)


@blueprint.post("/api/stores/<client_key>/sync")
def start_sync(client_key: str) -> tuple[Response, int]:
    """Enqueue a manual sync of an active store."""
    mode = _requested_mode()
    client = context().repository.get_client(client_key)
    if client.get("status") != "active":
        raise Conflict(f"client is {client.get('status')}, not active", field="status")
    launch = launcher().start(
        client_key, "incremental" if mode == "incremental" else "full", trigger="manual"
    )
    answer = {"clientKey": client_key, "syncJobId": launch.job["_id"], "mode": mode}
    if not launch.enqueued:
        answer["warning"] = "broker unavailable: the scheduler will enqueue this job"
    return jsonify(answer), 202


@blueprint.get("/api/stores/<client_key>/sync/jobs")
def list_jobs(client_key: str) -> Response:
    """Recent sync jobs of a store, newest first."""
    jobs = _jobs(client_key).recent(parse_limit(request.args.get("limit")))
    return jsonify({"items": [public_job(job) for job in jobs]})


@blueprint.get("/api/stores/<client_key>/sync/jobs/<job_id>")
def get_job(client_key: str, job_id: str) -> Response:
    """One sync job with its per-resource counts."""
    return jsonify(public_job(_jobs(client_key).get(job_id)))
