"""Chunked request bodies held to the same size limits as bodies with a Content-Length.

Werkzeug checks `max_content_length` against `Content-Length` at once, but on a chunked
stream (gunicorn sets `wsgi.input_terminated`) it only stops reading at the limit: the body
arrives cut short and fails later as "not JSON" (400) or a bad HMAC (401). This middleware
reads a body that has no Content-Length up to its limit + 1 byte: over the limit the answer
is 413, otherwise the app gets the whole body with a Content-Length, like any other.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

READ_CHUNK_BYTES = 64 * 1024
# After a 413, read (and drop) at most this much more so the client sees the answer.
DRAIN_LIMIT_BYTES = 16 * 1024 * 1024

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ChunkedBodyLimit:
    """WSGI middleware: `limit_for(path)` bytes at most for bodies without a Content-Length."""

    def __init__(self, app: WSGIApp, limit_for: Callable[[str], int]) -> None:
        self._app = app
        self._limit_for = limit_for

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if (
            environ.get("CONTENT_LENGTH")
            or "chunked" not in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
        ):
            return self._app(environ, start_response)
        limit = self._limit_for(str(environ.get("PATH_INFO", "")))
        stream = environ["wsgi.input"]
        body = _read_at_most(stream, limit + 1)
        if len(body) > limit:
            _read_at_most(stream, DRAIN_LIMIT_BYTES, keep=False)
            return _too_large(start_response, limit)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self._app(environ, start_response)


def _read_at_most(stream: Any, size: int, *, keep: bool = True) -> bytes:
    parts: list[bytes] = []
    remaining = size
    try:
        while remaining > 0:
            chunk = stream.read(min(READ_CHUNK_BYTES, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            if keep:
                parts.append(chunk)
    except (OSError, ValueError):
        pass  # the client went away: what was read is all there is
    return b"".join(parts)


def _too_large(start_response: Callable[..., Any], limit: int) -> list[bytes]:
    body = json.dumps(
        {
            "error": {
                "code": "request_entity_too_large",
                "message": f"the body is over the limit of {limit} bytes",
                "field": "body",
            }
        }
    ).encode()
    start_response(
        "413 Request Entity Too Large",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ],
    )
    return [body]
