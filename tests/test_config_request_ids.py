"""config_db.request_ids: one id per request, in its answer and in every line it logs."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint

from config_db.request_ids import HEADER, request_id_from
from tests.conftest import HEADERS, capture_logs

log = logging.getLogger("tests.request_ids")


def test_a_plain_caller_id_is_kept_and_anything_else_replaced() -> None:
    assert request_id_from("heroku-router-2f7c9a1b") == "heroku-router-2f7c9a1b"
    for sent in (None, "", "short", "with space 12345", "x" * 201, "id\nforged: line",
                 "shpat_" + "é" * 10, "shpat_0123456789abcdef", "x-SHPCA_0123456789"):  # fmt: skip
        made = request_id_from(sent)
        assert made != sent and len(made) == 32 and made.isalnum()


def test_each_answer_carries_its_id_and_the_callers_is_echoed(client: Any) -> None:
    # When two requests come without an id, Then each gets its own
    first = client.get("/health").headers[HEADER]
    second = client.get("/api/config/clients", headers=HEADERS).headers[HEADER]
    assert first != second and len(first) == 32
    # When the caller sends a plain id, Then the answer echoes it, refusals included
    sent = {HEADER: "frontend-req-000123"}
    assert client.get("/api/config/clients", headers={**HEADERS, **sent}).headers[HEADER] == (
        sent[HEADER]
    )
    refused = client.get("/api/config/clients", headers={**sent, "X-API-Key": "wrong"})
    assert refused.status_code == 401 and refused.headers[HEADER] == sent[HEADER]


def test_lines_logged_while_serving_name_the_request_and_only_then(app: Any, client: Any) -> None:
    # Given a route that logs
    probe = Blueprint("probe", __name__)

    @probe.get("/api/probe")
    def logging_route() -> str:
        log.warning("serving the probe")
        return "ok"

    app.register_blueprint(probe)
    with capture_logs("json") as logs:
        # When it is called with an id, and a line is logged after the request
        answer = client.get("/api/probe", headers={**HEADERS, HEADER: "trace-abcdef-42"})
        log.warning("between requests")
    # Then the line inside the request has the id, and the one after has none
    assert answer.status_code == 200
    [inside] = [r for r in logs.records() if r["message"] == "serving the probe"]
    [after] = [r for r in logs.records() if r["message"] == "between requests"]
    assert inside["requestId"] == "trace-abcdef-42" and "requestId" not in after
