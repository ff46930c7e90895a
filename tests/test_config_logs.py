"""config_db.logs: one format for every logger, ids bound where known, never a secret."""

from __future__ import annotations

import io
import json
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import dramatiq
import pytest
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker
from gunicorn.config import Config

from config_db.access_log import RedactingLogger
from config_db.logs import (
    LogHandler,
    carry_log_context,
    configure_logging,
    log_context,
    with_log_context,
)
from sync.message_logs import MessageLogContext
from tests.conftest import capture_logs, make_settings

log = logging.getLogger("tests.logs")
SECRET = "shpat_local_variable_secret_4242"


def test_a_json_line_has_the_standard_fields_and_the_bound_ids() -> None:
    # Given JSON logs and a store, job and resource bound by the code that knows them
    with capture_logs("json") as logs, log_context(clientKey="mystore", jobId="j1"):
        with log_context(resource="products", eventId=None):
            # When a standard-library logger logs a %-style message
            log.warning("%s %s: page %d written", "mystore", "products", 3)
    # Then it is one JSON object with the standard fields first and the ids
    [line] = logs.lines()
    record = json.loads(line)
    assert list(record)[:4] == ["timestamp", "level", "logger", "message"]
    assert record["message"] == "mystore products: page 3 written"
    assert (record["level"], record["logger"]) == ("warning", "tests.logs")
    assert record["timestamp"].endswith("Z") and isinstance(record["process"], int)
    ids = (record["clientKey"], record["jobId"], record["resource"])
    assert ids == ("mystore", "j1", "products")
    assert "eventId" not in record


def test_a_call_logs_with_its_ids_found_by_parameter_name_and_only_during_the_call() -> None:
    @with_log_context
    def apply(client_key: str, event_id: str, attempts: int = 1) -> None:
        log.info("applied")

    with capture_logs("json") as logs:
        apply("mystore", event_id="evt-1:products/update")
        log.info("after")
    applied, after = logs.records()
    assert (applied["clientKey"], applied["eventId"]) == ("mystore", "evt-1:products/update")
    assert "attempts" not in applied
    assert "clientKey" not in after


def test_a_text_line_is_readable_and_names_the_ids() -> None:
    with capture_logs("text") as logs, log_context(clientKey="mystore", jobId="j1"):
        log.info("%s: token refreshed", "mystore")
    [line] = logs.lines()
    assert "[info" in line and "mystore: token refreshed" in line and "[tests.logs]" in line
    assert "clientKey=mystore" in line and "jobId=j1" in line


@pytest.mark.parametrize(
    ("env", "chosen", "expected"),
    [("production", None, "json"), ("development", None, "text"), ("production", "text", "text")],
)
def test_the_format_defaults_to_json_in_production_and_text_in_development(
    env: str, chosen: str | None, expected: str
) -> None:
    settings = make_settings(env=env, log_format=chosen)
    assert settings.effective_log_format == expected


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_logged_traceback_never_shows_local_variables(log_format: Any) -> None:
    # Given a failure in a frame holding a token (rich tracebacks would print the locals)
    def refresh(token: str) -> None:
        raise RuntimeError("refresh failed")

    with capture_logs(log_format) as logs:
        try:
            refresh(SECRET)
        except RuntimeError:
            log.exception("token refresh failed")
    # Then the traceback is there, the token is not
    assert "RuntimeError: refresh failed" in logs.text() and "in refresh" in logs.text()
    assert SECRET not in logs.text()


def test_work_handed_to_a_pool_thread_logs_with_the_callers_ids() -> None:
    def download(media: str) -> None:
        log.warning("media %s not downloaded", media)

    with capture_logs("json") as logs, log_context(clientKey="mystore", resource="media"):
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(carry_log_context(download), ["a", "b"]))
    assert {(r["clientKey"], r["resource"]) for r in logs.records()} == {("mystore", "media")}


def test_configure_replaces_the_basic_config_handler_and_keeps_a_capture() -> None:
    # Given the handler logging.basicConfig installs (Dramatiq's CLI) and a test's capture
    root = logging.getLogger()
    before = list(root.handlers)
    basic = logging.StreamHandler(io.StringIO())
    root.addHandler(basic)
    try:
        with capture_logs("json") as logs:
            # When shopsync sets logging up twice (web: create_app, then the broker)
            stream = io.StringIO()
            configure_logging(log_format="json", stream=stream)
            configure_logging(log_format="json", stream=stream)
            log.warning("one line")
        # Then one shopsync handler writes, basicConfig's is gone, the capture still sees it
        ours = [h for h in root.handlers if isinstance(h, LogHandler)]
        assert len(ours) == 1 and basic not in root.handlers
        assert json.loads(stream.getvalue())["message"] == "one line"
        assert logs.records()[0]["message"] == "one line"
    finally:
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)


def test_the_first_setup_logs_info_and_later_ones_keep_the_level_chosen_since() -> None:
    # Given a process that has not set logging up yet (Python's default: WARNING)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    try:
        # When shopsync sets it up, Then info lines are written
        configure_logging(log_format="text", stream=io.StringIO())
        assert root.level == logging.INFO
        # When a command then asks for warnings only and the broker sets logging up again
        root.setLevel(logging.WARNING)
        configure_logging(log_format="text", stream=io.StringIO())
        # Then the command's choice stands (no info line above its output)
        assert root.level == logging.WARNING
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


def test_the_default_handler_writes_to_the_current_stderr() -> None:
    # Dramatiq points a worker process's sys.stderr at its log pipe after fork
    handler = LogHandler()
    replaced = io.StringIO()
    original, sys.stderr = sys.stderr, replaced
    try:
        assert handler.stream is replaced
    finally:
        sys.stderr = original


def test_dramatiq_lines_about_a_failed_message_name_its_store_job_and_resource() -> None:
    # Given a broker with the log-context middleware, as build_broker adds it
    broker = StubBroker()
    MessageLogContext.install(broker)

    @dramatiq.actor(broker=broker, max_retries=0)
    def sync_part(client_key: str, job_id: str, resource: str) -> None:
        raise RuntimeError("boom")

    worker = Worker(broker, worker_timeout=50)
    with capture_logs("json") as logs:
        worker.start()
        try:
            # When a message of it fails for good
            sync_part.send("mystore", "job-1", "products")
            broker.join(sync_part.queue_name, fail_fast=False)
            worker.join()
        finally:
            worker.stop()
    # Then Dramatiq's own failure line and its retries line carry the ids
    about = [r for r in logs.records() if r["logger"].startswith("dramatiq")]
    failed = [r for r in about if r["message"].startswith("Failed to process message")]
    gave_up = [r for r in about if "Retries exceeded" in r["message"]]
    assert failed and gave_up, about
    for record in failed + gave_up:
        ids = (record.get("clientKey"), record.get("jobId"), record.get("resource"))
        assert ids == ("mystore", "job-1", "products"), record


def _request(query: str) -> tuple[Any, Any, dict[str, Any]]:
    resp = SimpleNamespace(status="200 OK", sent=12, headers=[("Content-Type", "text/plain"),
                                                               ("X-Request-ID", "req-0000abcd")])
    req = SimpleNamespace(headers=[("X-API-KEY", "key-leak"), ("User-Agent", "curl")])
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/api/config/clients?{query}",
        "PATH_INFO": "/api/config/clients",
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
    }
    return resp, req, environ


def test_gunicorn_error_and_access_lines_are_json_with_no_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given gunicorn's logger (gunicorn.conf.py) in json mode, with an access log on stdout
    monkeypatch.setenv("SHOPSYNC_LOG_FORMAT", "json")
    config = Config()
    config.set("accesslog", "-")
    logger = RedactingLogger(config)
    try:
        # When gunicorn logs and a request with secrets in its URL and headers is served
        logger.info("Booting worker with pid: %s", 4242)
        resp, req, environ = _request("limit=7&access_token=shpat_leak1")
        logger.access(resp, req, environ, timedelta(milliseconds=3))
        out, err = capsys.readouterr()
    finally:
        configure_logging(log_format="text")  # back to the suite's usual handler
    # Then both are JSON lines of gunicorn's loggers; the access line has its fields
    [access] = [json.loads(line) for line in out.splitlines()]
    error_lines = [json.loads(line) for line in err.splitlines()]
    assert any(r["logger"] == "gunicorn.error" and "4242" in r["message"] for r in error_lines)
    assert access["logger"] == "gunicorn.access"
    assert (access["method"], access["path"], access["status"]) == (
        "GET",
        "/api/config/clients",
        200,
    )
    assert access["durationMs"] == 3.0 and "limit=7" in access["message"]
    assert access["requestId"] == "req-0000abcd"  # the answer's id (config_db.request_ids)
    # And no secret of the URL or headers is in either
    assert "shpat_leak1" not in out + err and "key-leak" not in out + err
