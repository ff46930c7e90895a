"""The `shopsync` command: run a process, or look after stores from a shell.

Every command reads the same environment as the processes (MONGODB_URI, REDIS_URL, …) and
talks to MongoDB and Redis directly, so it works against a remote deployment without its web
process. Expected failures print one line and exit 1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

import cli_views as views
from cli_progress import follow_job
from cli_session import EXIT_FAILED, EXIT_INTERRUPTED, Session, fail, open_session, reported
from config_db.mongo import MongoDocument

app = typer.Typer(
    name="shopsync",
    help="Keeps a local MongoDB copy of many Shopify stores, one database per store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals hold settings and tokens
)


# --- processes ----------------------------------------------------------------------------


@app.command()
def web() -> None:
    """Run the control API under gunicorn (honours $PORT)."""
    bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
    os.execvp("gunicorn", ["gunicorn", "--bind", bind, "app:create_app()"])


@app.command()
def worker() -> None:
    """Run the Dramatiq workers (queues `sync` and `webhooks`)."""
    # sync.worker is Dramatiq's command line with our logging set up first (config_db/logs.py).
    os.execvp(sys.executable, [sys.executable, "-m", "sync.worker", "sync.tasks", "webhooks.tasks"])


@app.command()
def clock() -> None:
    """Run the scheduler (incremental and full passes, watchdog, sweepers)."""
    os.execvp(sys.executable, [sys.executable, "-m", "sync.scheduler"])


@app.command("init-db")
@reported
def init_db() -> None:
    """Create appconfig's indexes."""
    open_session().repository.ensure_indexes()
    views.console().print("appconfig indexes ready")


# --- stores and jobs --------------------------------------------------------------------------


@app.command("stores")
@reported
def list_stores() -> None:
    """Every client: status, shop, documents, last passes, lag, last error, breaker."""
    from sync.overview import summarize

    session = open_session()
    parallel = session.settings.store_concurrency
    summaries = summarize(session.repository, session.databases, parallel=parallel)
    views.console().print(views.stores_table(summaries) if summaries else "no clients yet")


@app.command("jobs")
@reported
def list_jobs(
    client_key: Annotated[str, typer.Argument(help="The store's clientKey", metavar="CLIENTKEY")],
    limit: Annotated[int, typer.Option(min=1, max=250, help="How many jobs")] = 10,
) -> None:
    """The store's recent sync jobs, newest first."""
    from sync.orchestration.jobs import JobStore
    from sync.orchestration.progress import estimate_job
    from sync.orchestration.state import SyncState

    session = open_session()
    session.client(client_key)
    store_db = session.databases.get(client_key)
    history, parallel = SyncState(store_db).all(), session.settings.store_concurrency
    rows = [
        (job, estimate_job(job, history, parallel=parallel, now=views.utcnow()))
        for job in JobStore(store_db).recent(limit)
    ]
    views.console().print(views.jobs_table(client_key, rows) if rows else "no sync jobs yet")


@app.command("sync")
@reported
def sync_store(
    client_key: Annotated[str, typer.Argument(help="The store's clientKey", metavar="CLIENTKEY")],
    full: Annotated[bool, typer.Option("--full", help="Read everything (the default)")] = False,
    incremental: Annotated[
        bool, typer.Option("--incremental", help="Only what changed since the last pass")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Show live progress until it ends")] = False,
) -> None:
    """Enqueue a sync job; with --wait follow it (exit 0 when completed, 1 when failed)."""
    if full and incremental:
        raise fail("--full and --incremental exclude each other")
    mode = "incremental" if incremental else "full"
    session = open_session()
    client = session.client(client_key)
    if client.get("status") != "active":
        raise fail(f"client {client_key!r} is {client.get('status')}, not active")
    launch = _launcher(session).start(client_key, mode, trigger="cli")
    job_id = launch.job["_id"]
    views.console().print(f"enqueued {mode} sync job {job_id} for {client_key}", highlight=False)
    if not launch.enqueued:
        views.console().print("[yellow]broker unavailable: the clock will enqueue this job[/]")
    if not wait:
        return
    try:
        job = follow_job(lambda: _job_and_estimate(session, client_key, job_id), views.console())
    except KeyboardInterrupt:
        raise fail(f"stopped following job {job_id}; it goes on", EXIT_INTERRUPTED) from None
    raise typer.Exit(0 if job["status"] == "completed" else EXIT_FAILED)


def _launcher(session: Session) -> Any:
    """The API's launcher: the same locks, job record and message (sync.tasks)."""
    from sync.broker import get_broker

    get_broker(session.settings, patient=False)  # before the actor module binds to it
    from sync import tasks
    from sync.orchestration.launcher import SyncLauncher
    from sync.runtime import build_services

    services = build_services(session.settings, session.mongo)
    return SyncLauncher(services.databases, tasks.run_sync_job.send, services.coordinator)


def _job_and_estimate(
    session: Session, client_key: str, job_id: str
) -> tuple[MongoDocument, dict[str, Any]]:
    from sync.orchestration.jobs import JobStore
    from sync.orchestration.progress import estimate_job
    from sync.orchestration.state import SyncState

    store_db = session.databases.get(client_key)
    job = JobStore(store_db).get(job_id)
    history, parallel = SyncState(store_db).all(), session.settings.store_concurrency
    return job, estimate_job(job, history, parallel=parallel, now=views.utcnow())


# --- webhooks -----------------------------------------------------------------------------------


@app.command("webhooks")
@reported
def list_webhooks(
    client_key: Annotated[str, typer.Argument(help="The store's clientKey", metavar="CLIENTKEY")],
    failed: Annotated[bool, typer.Option("--failed", help="Only failed events")] = False,
    replay: Annotated[
        bool, typer.Option("--replay", help="Send the failed events to the workers again")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many events")] = 20,
) -> None:
    """The store's latest webhook events; --replay re-sends the failed ones."""
    from webhooks.events import EventLog

    session = open_session()
    session.client(client_key)
    if replay:
        replayed = _replay(session, client_key)
        views.console().print(f"replayed {len(replayed)} failed events of {client_key}")
        for event_id in replayed:
            views.console().print(f"  {event_id}", highlight=False)
        return
    events = EventLog(session.databases.get(client_key)).recent("failed" if failed else None, limit)
    found = views.webhooks_table(client_key, events) if events else "no webhook events"
    views.console().print(found)


def _replay(session: Session, client_key: str) -> list[str]:
    from sync.broker import get_broker

    get_broker(session.settings, patient=False)  # before the actor module binds to it
    from sync.runtime import build_services
    from webhooks import tasks
    from webhooks.sweeper import replay_failed

    services = build_services(session.settings, session.mongo)
    return replay_failed(services, client_key, tasks.apply_webhook.send)


# --- backup and restore ---------------------------------------------------------------------------


@app.command("export")
@reported
def export_store(
    client_key: Annotated[str, typer.Argument(help="The store's clientKey", metavar="CLIENTKEY")],
    file: Annotated[Path, typer.Argument(help="The archive to write")],
) -> None:
    """Write one store's whole database (GridFS and bookkeeping too) to an archive."""
    from app import VERSION
    from stores import archive

    session = open_session()
    session.client(client_key)
    manifest = _unless_missing(
        lambda: archive.export_store(
            session.mongo.client,
            client_key,
            file,
            db_prefix=session.settings.db_prefix,
            version=VERSION,
        )
    )
    _print_manifest(f"exported {client_key} to {file}", manifest)


@app.command("import")
@reported
def import_store(
    file: Annotated[Path, typer.Argument(help="The archive to read")],
    as_key: Annotated[
        str | None, typer.Option("--as", help="Restore under this clientKey instead")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace an existing store database")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace it even while a sync job is queued or running")
    ] = False,
) -> None:
    """Restore a store's database from an archive (refuses an existing one without --replace)."""
    from stores import archive

    if force and not replace:
        raise fail("--force goes with --replace")
    session = open_session()
    manifest = _unless_missing(
        lambda: archive.import_store(
            session.mongo.client,
            file,
            as_client_key=as_key,
            db_prefix=session.settings.db_prefix,
            replace=replace,
            force=force,
        )
    )
    _print_manifest(f"imported {file} as {as_key or manifest.client_key}", manifest)
    for note in manifest.notes[1:]:  # the first is the title's count again
        views.console().print(f"note: {note}", highlight=False, soft_wrap=True)


def _print_manifest(title: str, manifest: Any) -> None:
    out = views.console()
    out.print(title, highlight=False, soft_wrap=True)
    out.print(views.manifest_table(manifest))


def _unless_missing(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except NotImplementedError:
        raise fail("store archives are not available in this build") from None


def main(argv: list[str] | None = None) -> None:
    """The `shopsync` console script."""
    app(args=argv, prog_name="shopsync")


if __name__ == "__main__":
    main()
