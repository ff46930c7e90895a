"""cli: `shopsync` commands through typer's CliRunner on the real SecantusDB and Redis."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

import cli
from cli_progress import follow_job
from config_db.settings import get_settings
from stores import archive
from stores.errors import StoreError
from stores.naming import SYNCED_COLLECTIONS
from sync.orchestration.jobs import JobStore
from tests.conftest import HEADERS, service_env

pytestmark = pytest.mark.real
NOW = datetime.now(UTC)


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, mongo_uri: str, redis_url: str, real_mongo: Any
) -> Iterator[None]:
    """The processes' environment, read afresh by each command."""
    for name, value in service_env(mongo_uri, redis_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SHOPSYNC_MONGO_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("COLUMNS", "250")  # one table row a line, whatever the terminal
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def configured(cli_env: None, real_client: Any, real_mongo: Any, stub_broker: Any) -> Any:
    """`mystore` and `other` configured through the API (each with its config job)."""
    from tests.conftest import seed_payload

    for key in ("mystore", "other"):
        answer = real_client.post("/api/config/sync", json=seed_payload(key), headers=HEADERS)
        assert answer.status_code == 202, answer.get_json()
    return real_mongo


def shopsync(*args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args))


def test_stores_shows_every_client_with_documents_freshness_errors_and_breaker(
    configured: Any,
) -> None:
    # Given mystore synced an hour ago (two live products, one tombstone; themes skipped for a
    # missing scope), its breaker open, and `other` disabled and never synced
    now = datetime.now(UTC)
    store_db = configured["mystore"]
    store_db.products.insert_many([{"_id": f"gid://shopify/Product/{n}", "deleted": n == 3}
                                   for n in (1, 2, 3)])  # fmt: skip
    for name in SYNCED_COLLECTIONS:
        store_db["_syncstate"].insert_one(
            {"_id": name, "lastFullAt": now - timedelta(hours=1), "lastIncrementalAt": None}
            if name != "themedatas" else {"_id": name, "skippedFor": "missing access scope"}
        )
    configured.appconfig.clients.update_one({"_id": "mystore"}, {"$set": {"breaker": {
        "state": "open", "reopenAt": now + timedelta(minutes=5)}}})  # fmt: skip
    configured.appconfig.clients.update_one(
        {"_id": "other"}, {"$set": {"status": "disabled", "statusReason": "paused by ops"}}
    )
    # When the operator lists the stores
    result = shopsync("stores")
    # Then each client has its row
    assert result.exit_code == 0, result.output
    mystore = next(line for line in result.output.splitlines() if "mystore " in line)
    assert "active" in mystore and "products 2" in mystore and "1 h ago" in mystore
    assert "open, 4 min left" in mystore
    assert "queued 0 %" in mystore  # the config's job, not started
    other = next(line for line in result.output.splitlines() if "other " in line)
    assert "disabled" in other and "paused by ops" in other and "never synced" in other


def test_a_store_part_way_through_its_first_sync_has_no_lag_yet(configured: Any) -> None:
    # Given mystore's first sync has finished two of its seven resources
    state = configured["mystore"]["_syncstate"]
    now = datetime.now(UTC)
    state.insert_many([{"_id": name, "lastFullAt": now} for name in ("blogs", "articles")])
    # When the operator lists the stores, Then its lag and last pass wait for the others
    mystore = next(line for line in shopsync("stores").output.splitlines() if "mystore " in line)
    assert "2/7 resources synced" in mystore and "ago" not in mystore, mystore


def test_jobs_lists_the_stores_jobs(configured: Any) -> None:
    job = JobStore(configured["mystore"]).recent(1)[0]
    result = shopsync("jobs", "mystore")
    assert result.exit_code == 0, result.output
    assert job["_id"] in result.output and "full" in result.output and "config" in result.output


def test_an_unknown_client_key_is_one_line_and_exit_code_1(cli_env: None) -> None:
    for command in (["jobs", "nosuch"], ["sync", "nosuch"], ["webhooks", "nosuch"],
                    ["export", "nosuch", "x.archive"]):  # fmt: skip
        result = shopsync(*command)
        assert result.exit_code == 1, (command, result.output)
        assert result.output.strip() == "error: no client 'nosuch'", command


def test_mongodb_unreachable_is_one_line_and_exit_code_1(
    cli_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:1")
    monkeypatch.setenv("SHOPSYNC_MONGO_TIMEOUT_SECONDS", "0.3")
    result = shopsync("stores")
    assert result.exit_code == 1
    assert result.output.strip() == "error: cannot reach MongoDB (ServerSelectionTimeoutError)"


def test_sync_enqueues_through_the_launcher(configured: Any, stub_broker: Any) -> None:
    before = stub_broker.queues["sync"].qsize()
    result = shopsync("sync", "mystore", "--incremental")
    assert result.exit_code == 0, result.output
    job = JobStore(configured["mystore"]).recent(1)[0]
    assert result.output.strip() == f"enqueued incremental sync job {job['_id']} for mystore"
    assert (job["mode"], job["trigger"], job["status"]) == ("incremental", "cli", "queued")
    assert stub_broker.queues["sync"].qsize() == before + 1


def test_sync_refuses_an_inactive_client_and_both_modes(configured: Any) -> None:
    assert shopsync("sync", "mystore", "--full", "--incremental").exit_code == 1
    configured.appconfig.clients.update_one({"_id": "mystore"}, {"$set": {"status": "disabled"}})
    result = shopsync("sync", "mystore")
    assert result.exit_code == 1
    assert result.output.strip() == "error: client 'mystore' is disabled, not active"


@pytest.mark.parametrize(("status", "code"), [("completed", 0), ("failed", 1)])
def test_sync_wait_exits_with_the_jobs_outcome(
    configured: Any, monkeypatch: pytest.MonkeyPatch, status: str, code: int
) -> None:
    monkeypatch.setattr(cli, "follow_job", lambda read, _console: read()[0] | {"status": status})
    assert shopsync("sync", "mystore", "--wait").exit_code == code


def test_webhooks_lists_and_replays_failed_events(configured: Any, stub_broker: Any) -> None:
    events = configured["mystore"].webhookevents
    events.insert_many([
        {"_id": "e1:products/update", "topic": "products/update", "status": "failed",
         "error": "boom", "receivedAt": NOW - timedelta(minutes=2), "requeues": 3},
        {"_id": "e2:products/delete", "topic": "products/delete", "status": "applied",
         "error": None, "receivedAt": NOW - timedelta(minutes=1)},
    ])  # fmt: skip
    listed = shopsync("webhooks", "mystore")
    assert "e1:products/update" in listed.output and "e2:products/delete" in listed.output
    failed = shopsync("webhooks", "mystore", "--failed")
    assert "e1:products/update" in failed.output and "e2:" not in failed.output
    before = stub_broker.queues["webhooks"].qsize()
    # When the failed ones are replayed
    replayed = shopsync("webhooks", "mystore", "--replay")
    # Then each is queued again and sent to the workers, once
    assert replayed.exit_code == 0 and "replayed 1 failed events" in replayed.output
    event = events.find_one({"_id": "e1:products/update"})
    assert (event["status"], event["error"], event["requeues"]) == ("queued", None, 0)
    assert stub_broker.queues["webhooks"].qsize() == before + 1
    assert "replayed 0" in shopsync("webhooks", "mystore", "--replay").output


def test_export_and_import_call_the_archive_library(
    configured: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from app import VERSION

    calls: list[tuple[Any, ...]] = []
    manifest = archive.Manifest("mystore", VERSION, "2026-12-07T12:00:00+00:00",
                                {"products": {"count": 2, "sha256": "ab" * 32}})  # fmt: skip

    def export(client: Any, key: str, path: Path, **options: Any) -> archive.Manifest:
        calls.append(("export", key, path, options))
        return manifest

    def restore(client: Any, path: Path, **options: Any) -> archive.Manifest:
        calls.append(("import", path, options))
        return replace(manifest, notes=("imported 2 documents", "shop s belongs to client 'x'"))

    monkeypatch.setattr(archive, "export_store", export)
    monkeypatch.setattr(archive, "import_store", restore)
    target = tmp_path / "mystore.archive"
    exported = shopsync("export", "mystore", str(target))
    assert (
        exported.exit_code == 0 and "products" in exported.output and "abababab" in exported.output
    )
    imported = shopsync("import", str(target), "--as", "copy", "--replace")
    assert imported.exit_code == 0 and f"imported {target} as copy" in imported.output
    # and what the import did beyond the data (the config restored or not) is said
    assert "note: shop s belongs to client 'x'" in imported.output
    assert calls == [
        ("export", "mystore", target, {"db_prefix": "", "version": VERSION}),
        ("import", target, {"as_client_key": "copy", "db_prefix": "", "replace": True,
                            "force": False}),
    ]


def test_force_without_replace_is_refused(cli_env: None) -> None:
    result = shopsync("import", "x.archive", "--force")
    assert result.exit_code == 1 and result.output.strip() == "error: --force goes with --replace"


def test_a_refused_import_is_one_line(cli_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_options: Any) -> None:
        raise StoreError("store database 'copy' exists: pass --replace")

    monkeypatch.setattr(archive, "import_store", refuse)
    result = shopsync("import", "x.archive", "--as", "copy")
    assert result.exit_code == 1
    assert result.output.strip() == "error: store database 'copy' exists: pass --replace"


# --- following a job ---------------------------------------------------------------------------


def _states() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    def job(status: str, seen: int, run: str) -> dict[str, Any]:
        products = {"status": run, "seen": seen, "expected": 300, "path": "bulk",
                    "linesIngested": seen * 3, "objectCount": 900, "points": 12,
                    "throttleWaits": 1}  # fmt: skip
        themes = {"status": run, "seen": 3, "pages": 1}
        resources = {"products": products, "themedatas": themes}
        return {"_id": "j1", "status": status, "durationSeconds": 75, "resources": resources}

    estimate = {"progress": 0.5, "etaSeconds": 90, "resources": {"products": 90}}
    yield job("running", 150, "running"), estimate
    yield job("completed", 300, "completed"), estimate | {"progress": 1.0}


def test_following_without_a_terminal_prints_plain_lines() -> None:
    out = io.StringIO()
    states = _states()
    job = follow_job(lambda: next(states), Console(file=out, width=160), poll_seconds=0)
    lines = out.getvalue().splitlines()
    assert job["status"] == "completed"
    assert any("150/300 docs" in line and "1 min left" in line for line in lines), lines
    assert any(line.startswith("products") and "300/300 docs" in line
               and "bulk 900/900 objects" in line for line in lines), lines  # fmt: skip
    assert any(line.startswith("themes") and "3/? docs" in line for line in lines), lines
    assert lines[-1] == "job j1 completed in 1 min" and "\x1b" not in out.getvalue()


def test_following_on_a_terminal_draws_live_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    out = io.StringIO()
    states = _states()
    console = Console(file=out, force_terminal=True, width=160)
    assert follow_job(lambda: next(states), console, poll_seconds=0)["status"] == "completed"
    assert "300/300" in out.getvalue() and "━" in out.getvalue()


def test_on_an_80_column_terminal_the_bars_keep_whole_counts_and_states(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a terminal 80 columns wide, and a big store's job under way
    monkeypatch.setenv("TERM", "xterm-256color")
    out = io.StringIO()
    running = {"status": "running", "seen": 15_000, "expected": 30_000, "path": "bulk",
               "linesIngested": 45_000, "objectCount": 90_000, "points": 1_532,
               "throttleWaits": 5}  # fmt: skip
    job = {"_id": "j1", "status": "running", "resources": {"collections": running}}
    estimate = {"progress": 0.5, "etaSeconds": 90, "resources": {"collections": 90}}
    done = {**job, "status": "completed", "durationSeconds": 75,
            "resources": {"collections": {**running, "status": "completed", "seen": 30_000}}}
    states = iter([(job, estimate), (done, estimate | {"progress": 1.0})])
    # When it is followed to its end
    console = Console(file=out, force_terminal=True, width=80)
    assert follow_job(lambda: next(states), console, poll_seconds=0)["status"] == "completed"
    # Then names, counts and states are whole (pages and points are left out), never cut
    drawn = out.getvalue()
    assert "collections" in drawn and "30,000/30,000 completed" in drawn
    assert "completed in 1 min" in drawn and "…" not in drawn
