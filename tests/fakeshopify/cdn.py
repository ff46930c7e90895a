"""Deterministic CDN content: URLs, content types and streamed bytes.

Every image and file URL in a fake store is ``{base}/cdn/shops/{shop}/files/{name}?v={n}``.
The bytes behind a URL are a magic header for the file type followed by SHA-256 in counter
mode over ``(shop, name, v)``, so they change whenever ``v`` changes and can be produced chunk
by chunk (a 20 MB file is never held in memory server-side).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

#: Base URL generated data uses before a shop is bound to a server.
UNBOUND_BASE = "http://fakeshopify.invalid"
#: Placeholder shop segment in generated data (replaced when the store joins a shop).
UNBOUND_SHOP = "_"
#: Placeholder shop domain in generated data.
UNBOUND_DOMAIN = "_.myshopify.com"

CHUNK = 64 * 1024
_BLOCKS_PER_CHUNK = CHUNK // 32

CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "zip": "application/zip",
    "mp4": "video/mp4",
    "glb": "model/gltf-binary",
    "woff": "font/woff",
    "woff2": "font/woff2",
    "css": "text/css",
    "js": "application/javascript",
    "json": "application/json",
    "liquid": "application/x-liquid",
    "txt": "text/plain",
}

_MAGIC = {
    "png": b"\x89PNG\r\n\x1a\n",
    "jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "gif": b"GIF89a",
    "pdf": b"%PDF-1.7\n",
    "zip": b"PK\x03\x04",
    "mp4": b"\x00\x00\x00\x18ftypmp42",
    "woff": b"wOFF",
    "woff2": b"wOF2",
}


def extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(extension(name), "application/octet-stream")


def cdn_url(base: str, shop: str, name: str, version: int = 1) -> str:
    return f"{base}/cdn/shops/{shop}/files/{name}?v={version}"


def shop_prefix(base: str, shop: str) -> str:
    """The part of every CDN URL of one shop that precedes the file name."""
    return f"{base}/cdn/shops/{shop}/files/"


@dataclass(frozen=True)
class CdnRef:
    shop: str
    name: str
    version: str


def parse_url(url: str) -> CdnRef | None:
    """Split a fake CDN URL into its parts; None when it is not one."""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    # ['', 'cdn', 'shops', shop, 'files', name...]
    if len(segments) < 6 or segments[1:3] != ["cdn", "shops"] or segments[4] != "files":
        return None
    version = parse_qs(parts.query).get("v", ["1"])[0]
    return CdnRef(shop=segments[3], name="/".join(segments[5:]), version=version)


def _prefix(shop: str, name: str, version: str) -> bytes:
    return hashlib.sha256(f"{shop}\x00{name}\x00{version}".encode()).digest()


def stream(shop: str, name: str, version: str, size: int, chunk: int = CHUNK) -> Iterator[bytes]:
    """Yield exactly ``size`` deterministic bytes in chunks of about ``chunk`` bytes."""
    magic = _MAGIC.get(extension(name), b"")[:size]
    if magic:
        yield magic
    remaining = size - len(magic)
    prefix = _prefix(shop, name, version)
    sha = hashlib.sha256
    counter = 0
    blocks = max(1, chunk // 32)
    while remaining > 0:
        n = min(blocks, (remaining + 31) // 32)
        data = b"".join(
            [sha(prefix + i.to_bytes(8, "big")).digest() for i in range(counter, counter + n)]
        )
        counter += n
        if len(data) > remaining:
            data = data[:remaining]
        remaining -= len(data)
        yield data


def content(shop: str, name: str, version: str, size: int) -> bytes:
    return b"".join(stream(shop, name, version, size))


def md5_hex(shop: str, name: str, version: str, size: int) -> str:
    digest = hashlib.md5()
    for part in stream(shop, name, version, size):
        digest.update(part)
    return digest.hexdigest()
