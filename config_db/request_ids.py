"""A request id per control-API request: bound to its log lines and sent back in the answer.

A caller's `X-Request-ID` is kept when it is a plain token, so a proxy's or a frontend's id
joins their logs with ours; anything else is replaced by a new id, never logged as sent.
"""

from __future__ import annotations

import re
import uuid

import structlog
from flask import Flask, Response, g, request

HEADER = "X-Request-ID"
LOG_FIELD = "requestId"
# Heroku's router and most proxies send 20-200 characters of this alphabet.
_PLAIN = re.compile(r"[A-Za-z0-9._:@-]{8,200}")
# A caller that puts a Shopify token (shpat_, shpca_, shpss_, ...) where the id goes must not
# get it written to every log line of the request.
_TOKEN_LIKE = re.compile(r"shp[a-z]{2}_", re.IGNORECASE)


def request_id_from(sent: str | None) -> str:
    """The caller's id when it is a plain token, else a new one."""
    if sent is not None and _PLAIN.fullmatch(sent) and not _TOKEN_LIKE.search(sent):
        return sent
    return uuid.uuid4().hex


def _bind() -> None:
    g.request_id = request_id_from(request.headers.get(HEADER))
    structlog.contextvars.bind_contextvars(**{LOG_FIELD: g.request_id})


def _answer(response: Response) -> Response:
    response.headers[HEADER] = g.get("request_id") or request_id_from(None)
    return response


def _unbind(_error: BaseException | None) -> None:
    structlog.contextvars.unbind_contextvars(LOG_FIELD)


def install(app: Flask) -> None:
    """Register first: every later hook (rate limits, the key check) logs with the id."""
    app.before_request(_bind)
    app.after_request(_answer)
    app.teardown_request(_unbind)
