"""``GET /bulk/<shop>/<file>?expires=<epoch>&sig=<hmac>``: a bulk operation's JSONL result.

Signed like a storage bucket's URL: a wrong signature or an expired URL answers 403 with an
XML error body (``SignatureDoesNotMatch``, ``ExpiredToken``), an unknown file 404
(``NoSuchKey``). ``Range: bytes=N-`` (or ``N-M``) answers 206 with ``Content-Range``; an
unsatisfiable range 416. The body is streamed in 64 KiB chunks.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from tests.fakeshopify.server import FakeShopify
    from tests.fakeshopify.store import FakeShop

CHUNK = 64 * 1024
CONTENT_TYPE = "application/jsonl"


class ResultFiles:
    """One shop's result files (in memory) and the key that signs their URLs."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}
        self._key = secrets.token_bytes(16)
        self._lock = threading.Lock()

    def get(self, name: str) -> bytes | None:
        with self._lock:
            return self._files.get(name)

    def signature(self, shop: str, name: str, expires: str) -> str:
        return hmac.new(self._key, f"{shop}/{name}:{expires}".encode(), hashlib.sha256).hexdigest()

    def store(self, base: str, shop: str, name: str, data: bytes, expires: int) -> str:
        """Keep ``data``; answers its URL, valid until ``expires`` (epoch seconds)."""
        with self._lock:
            self._files[name] = data
        sig = self.signature(shop, name, str(expires))
        return f"{base}/bulk/{shop}/{name}?expires={expires}&sig={sig}"


def _xml_error(status: int, code: str, message: str, details: str = "") -> Response:
    body = ("<?xml version='1.0' encoding='UTF-8'?><Error>"
            f"<Code>{code}</Code><Message>{message}</Message>"
            + (f"<Details>{details}</Details>" if details else "") + "</Error>")  # fmt: skip
    return Response(body, status=status, content_type="application/xml; charset=UTF-8")


def _chunks(shop: FakeShop, data: bytes, start: int, stop: int) -> Iterator[bytes]:
    view = memoryview(data)
    for offset in range(start, stop, CHUNK):
        chunk = bytes(view[offset : min(stop, offset + CHUNK)])
        shop.count_bulk(sent=len(chunk))
        yield chunk


def download(fake: FakeShopify, request: Request, name: str, filename: str) -> Response:
    shop = fake.shops.get(name)
    if request.method not in ("GET", "HEAD"):
        return _xml_error(405, "MethodNotAllowed", "The specified method is not allowed.")
    data = shop.bulk_files.get(filename) if shop is not None else None
    if shop is None or data is None:
        return _xml_error(404, "NoSuchKey", "The specified key does not exist.")
    expires = request.args.get("expires", "")
    signature = request.args.get("sig", "")
    if not expires.isdigit() or signature != shop.bulk_files.signature(name, filename, expires):
        return _xml_error(403, "SignatureDoesNotMatch", "Access denied.",
                          "The request signature we calculated does not match the signature "
                          "you provided.")  # fmt: skip
    if shop.bulk_clock() >= int(expires):
        when = datetime.fromtimestamp(int(expires), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return _xml_error(403, "ExpiredToken", "The provided token has expired.",
                          f"Request signature expired at: {when}")  # fmt: skip
    total, start, stop, status = len(data), 0, len(data), 200
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=0"}
    if request.range is not None:
        span = request.range.range_for_length(total)
        if span is None:
            headers["Content-Range"] = f"bytes */{total}"
            return Response(b"", status=416, headers=headers, content_type=CONTENT_TYPE)
        start, stop, status = span[0], span[1], 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{total}"
    shop.count_bulk(downloads=1)
    body = _chunks(shop, data, start, stop) if request.method == "GET" else iter(())
    response = Response(body, status=status, headers=headers, content_type=CONTENT_TYPE,
                        direct_passthrough=True)  # fmt: skip
    response.headers["Content-Length"] = str(stop - start)
    return response
