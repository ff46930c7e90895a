"""Chunked request bodies held to the same size limits as bodies with a Content-Length.

Werkzeug checks `max_content_length` against `Content-Length` at once, but on a chunked
stream (gunicorn sets `wsgi.input_terminated`) it only stops reading at the limit: the body
arrives cut short and fails later as "not JSON" (400) or a bad HMAC (401). This middleware
reads a chunked body (whatever Content-Length says) up to its limit + 1 byte: over the limit
the answer is 413, otherwise the app gets the whole body with a Content-Length.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

READ_CHUNK_BYTES = 64 * 1024

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ChunkedBodyLimit:
    """WSGI middleware: `limit_for(path)` bytes at most for chunked bodies."""

    def __init__(self, app: WSGIApp, limit_for: Callable[[str], int]) -> None:
        self._app = app
        self._limit_for = limit_for

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        # Chunked wins over any Content-Length (RFC 9112 section 6.3): checked first.
        if "chunked" not in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower():
            return self._app(environ, start_response)
        limit = self._limit_for(str(environ.get("PATH_INFO", "")))
        try:
            body = _read_at_most(environ["wsgi.input"], limit + 1)
        except Exception:  # noqa: BLE001 - the server's chunk-framing errors, whatever class
            return _refuse(start_response, "400 Bad Request", "bad_request",
                           "the chunked body is malformed")  # fmt: skip
        if len(body) > limit:
            # Nothing more is read: the answer closes the connection, and a client trickling
            # bytes must not hold a thread.
            return _refuse(start_response, "413 Request Entity Too Large",
                           "request_entity_too_large",
                           f"the body is over the limit of {limit} bytes")  # fmt: skip
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self._app(environ, start_response)


def _read_at_most(stream: Any, size: int) -> bytes:
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(READ_CHUNK_BYTES, remaining))
        if not chunk:
            break
        remaining -= len(chunk)
        parts.append(chunk)
    return b"".join(parts)


def _refuse(
    start_response: Callable[..., Any], status: str, code: str, message: str
) -> list[bytes]:
    body = json.dumps({"error": {"code": code, "message": message, "field": "body"}}).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ],
    )
    return [body]
