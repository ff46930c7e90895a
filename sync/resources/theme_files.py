"""Storing theme file bodies (inline, or GridFS when large or binary) and parsing JSON ones."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from gridfs import GridFSBucket

from stores.naming import THEME_BUCKET
from sync.errors import MediaDownloadError
from sync.orchestration.context import SyncContext
from sync.storage.documents import safe_key, safe_keys
from sync.storage.downloads import Downloader, Target

INLINE_TEXT_MAX = 64 * 1024  # larger text bodies go to GridFS
PARSED = "_parsed"
# Shopify writes a "/* ... */" notice before the JSON of some generated files.
_LEADING_COMMENT = re.compile(r"^\s*/\*.*?\*/\s*", re.DOTALL)
_JSON_GROUPS = (("templates/", "templates"), ("sections/", "sections"), ("locales/", "locales"))
SETTINGS_FILE = "config/settings_data.json"


@dataclass(frozen=True)
class FileBody:
    text: str | None = None
    data: bytes | None = None
    url: str | None = None


def parse_theme_json(text: str) -> Any:
    """JSON of a theme file, with Shopify's leading block comments removed."""
    while True:
        stripped = _LEADING_COMMENT.sub("", text, count=1)
        if stripped == text:
            return json.loads(text)
        text = stripped


def json_target(filename: str) -> tuple[str, str | None] | None:
    """Where a file's parsed JSON goes: ("settings", None) or (group, key) or None."""
    if filename == SETTINGS_FILE:
        return "settings", None
    for prefix, group in _JSON_GROUPS:
        if filename.startswith(prefix) and filename.endswith(".json"):
            return group, safe_key(filename[len(prefix) : -len(".json")])
    return None


def store_body(
    ctx: SyncContext,
    bucket: GridFSBucket,
    downloader: Downloader,
    theme_id: str,
    meta: dict[str, Any],
    body: FileBody,
    previous: dict[str, Any] | None,
    budget: list[int],
) -> dict[str, Any]:
    """The file's entry with its body inline or in GridFS (`gridfsId`), JSON parsed."""
    entry = dict(meta)
    metadata = {
        "themeId": theme_id,
        "filename": meta["filename"],
        "checksumMd5": meta.get("checksumMd5"),
        "contentType": meta.get("contentType"),
    }
    text = body.text
    if text is not None and len(text.encode()) <= min(INLINE_TEXT_MAX, budget[0]):
        entry["content"] = text
        budget[0] -= len(text.encode())
    elif text is not None or body.data is not None:
        raw = text.encode() if text is not None else body.data or b""
        entry["gridfsId"] = bucket.upload_from_stream(meta["filename"], raw, metadata=metadata)
    elif body.url:
        try:
            target = Target(ctx.store_db, THEME_BUCKET, meta["filename"], metadata)
            entry["gridfsId"] = downloader.download(body.url, target).gridfs_id
        except MediaDownloadError as error:
            entry["bodyError"] = error.message
    else:
        entry["bodyError"] = "Shopify returned no body"
    if json_target(meta["filename"]) and text is not None:
        _parse_into(entry, text)
    ctx.heartbeat()
    return entry


def _parse_into(entry: dict[str, Any], text: str) -> None:
    try:
        entry[PARSED] = safe_keys(parse_theme_json(text))
    except ValueError as error:
        entry["parseError"] = str(error)[:200]


def parsed_fields(
    files: list[dict[str, Any]], stored: dict[str, Any], changed: set[str]
) -> dict[str, Any]:
    """`settings`, `templates`, `sections`, `locales` from fresh bodies or the stored copy."""
    fields: dict[str, Any] = {"settings": None, "templates": {}, "sections": {}, "locales": {}}
    for entry in files:
        target = json_target(entry["filename"])
        if target is None:
            continue
        group, key = target
        if entry["filename"] in changed:
            value = entry.pop(PARSED, None)
        else:
            value = stored.get(group) if key is None else (stored.get(group) or {}).get(key)
        if key is None:
            fields[group] = value
        elif value is not None:
            fields[group][key] = value
    return fields
