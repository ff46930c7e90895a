"""Themes with their files: metadata, parsed JSON settings and templates, bodies.

Bodies are fetched only for files whose checksumMd5 changed since the stored copy.
"""

from __future__ import annotations

import base64
from typing import Any

from gridfs import GridFSBucket

from config_db.mongo import MongoDocument
from stores.naming import THEME_BUCKET
from sync.orchestration.context import SyncContext
from sync.orchestration.paging import dig, pages
from sync.resources.deletions import sweep_unseen
from sync.resources.theme_files import FileBody, parsed_fields, store_body
from sync.storage.documents import convert_timestamps
from sync.storage.downloads import Downloader
from sync.storage.media_store import delete_file
from sync.storage.writer import write_documents

NAME = "themedatas"
BODY_BATCH = 25  # file bodies per query: bounded answer size
THEME_FIELDS = "id name role processing processingFailed themeStoreId prefix createdAt updatedAt"
THEMES_QUERY = f"""
query Themes($first: Int!, $after: String) {{
  themes(first: $first, after: $after) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {THEME_FIELDS} }}
  }}
}}
"""
THEME_QUERY = f"query Theme($id: ID!) {{ theme(id: $id) {{ {THEME_FIELDS} }} }}"
FILES_QUERY = """
query ThemeFiles($id: ID!, $first: Int!, $after: String) {
  theme(id: $id) {
    files(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { filename checksumMd5 contentType size createdAt updatedAt }
    }
  }
}
"""
BODIES_QUERY = """
query ThemeFileBodies($id: ID!, $first: Int!, $filenames: [String!]) {
  theme(id: $id) {
    files(first: $first, filenames: $filenames) {
      nodes { filename checksumMd5 body { __typename
        ... on OnlineStoreThemeFileBodyText { content }
        ... on OnlineStoreThemeFileBodyBase64 { contentBase64 }
        ... on OnlineStoreThemeFileBodyUrl { url } } }
    }
  }
}
"""


def _list_files(ctx: SyncContext, theme_id: str) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        variables = {"id": theme_id, "after": after}
        data = ctx.query_page(
            FILES_QUERY, {**variables, "first": ctx.page_first(FILES_QUERY, variables)}
        )
        connection = dig(data, ("theme", "files")) or {}
        files.extend(connection.get("nodes") or [])
        info = connection.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            return files
        after = info.get("endCursor")


def _fetch_bodies(ctx: SyncContext, theme_id: str, names: list[str]) -> dict[str, Any]:
    bodies: dict[str, Any] = {}
    for start in range(0, len(names), BODY_BATCH):
        batch = names[start : start + BODY_BATCH]
        data = ctx.query(BODIES_QUERY, {"id": theme_id, "first": len(batch), "filenames": batch})
        for node in (dig(data, ("theme", "files")) or {}).get("nodes") or []:
            bodies[node["filename"]] = node.get("body")
        ctx.heartbeat()
    return bodies


def _changed(previous: dict[str, Any] | None, meta: dict[str, Any]) -> bool:
    return (
        previous is None
        or previous.get("bodyError") is not None
        or previous.get("checksumMd5") != meta.get("checksumMd5")
    )


def _to_body(raw: Any) -> FileBody:
    kind = (raw or {}).get("__typename")
    if kind == "OnlineStoreThemeFileBodyText":
        return FileBody(text=str(raw.get("content") or ""))
    if kind == "OnlineStoreThemeFileBodyBase64":
        return FileBody(data=base64.b64decode(raw.get("contentBase64") or ""))
    if kind == "OnlineStoreThemeFileBodyUrl":
        return FileBody(url=str(raw.get("url")))
    return FileBody()


INLINE_BUDGET_BYTES = 8 * 1024 * 1024  # inline bodies per theme document, far below 16 MB


def theme_document(
    ctx: SyncContext, node: dict[str, Any], downloader: Downloader
) -> tuple[MongoDocument, list[Any]]:
    """The theme with every file's metadata (only changed bodies are fetched), and the GridFS
    ids its previous version used that it no longer needs (deleted once it is written)."""
    stored = ctx.collection(NAME).find_one({"_id": node["id"]}) or {}
    previous = {entry["filename"]: entry for entry in stored.get("files", [])}
    # UnsignedInt64 arrives as a string; a number is what readers expect.
    listing = [
        {**meta, "size": int(meta["size"])} if meta.get("size") is not None else meta
        for meta in _list_files(ctx, node["id"])
    ]
    changed = [
        meta["filename"] for meta in listing if _changed(previous.get(meta["filename"]), meta)
    ]
    bodies = _fetch_bodies(ctx, node["id"], changed)
    kept = sum(
        len(str(previous[m["filename"]].get("content", "")).encode())
        for m in listing
        if m["filename"] not in bodies
    )
    bucket = GridFSBucket(ctx.store_db, bucket_name=THEME_BUCKET)
    files, budget = [], [max(0, INLINE_BUDGET_BYTES - kept)]
    for meta in listing:
        name = meta["filename"]
        if name in bodies:
            files.append(
                store_body(
                    ctx,
                    bucket,
                    downloader,
                    node["id"],
                    meta,
                    _to_body(bodies[name]),
                    previous.get(name),
                    budget,
                )
            )
        else:
            files.append({**previous[name], **meta})
    document = {**node, "_id": node["id"], "files": files}
    document.update(parsed_fields(files, stored, set(bodies)))
    ctx.count(filesChanged=len(bodies), filesUnchanged=len(listing) - len(bodies))
    converted: MongoDocument = convert_timestamps(document)
    in_use = {entry.get("gridfsId") for entry in files}
    stale = [
        entry["gridfsId"]
        for entry in previous.values()
        if entry.get("gridfsId") is not None and entry["gridfsId"] not in in_use
    ]
    return converted, stale


def store_themes(ctx: SyncContext, nodes: list[dict[str, Any]], downloader: Downloader) -> Any:
    """Build, write, and only then drop the GridFS bodies the old versions used."""
    built = [theme_document(ctx, node, downloader) for node in nodes]
    counts = write_documents(
        ctx.collection(NAME), [doc for doc, _ in built], run_id=ctx.run_id, now=ctx.now()
    )
    bucket = GridFSBucket(ctx.store_db, bucket_name=THEME_BUCKET)
    for document, stale in built:
        if document["_id"] not in counts.rejected:
            for file_id in stale:
                delete_file(bucket, file_id)
    ctx.count(seen=len(built), upserted=counts.upserted, skipped=counts.skipped)
    return counts


def sync(ctx: SyncContext, downloader: Downloader) -> None:
    """Every theme (the list is small, so incremental is the same pass), then the sweep."""
    for nodes in pages(ctx, "main", THEMES_QUERY, ("themes",)):
        store_themes(ctx, nodes, downloader)
    sweep_unseen(ctx, NAME)


ROLES_QUERY = """
query ThemeRoles($first: Int!, $after: String) {
  themes(first: $first, after: $after) { pageInfo { hasNextPage endCursor } nodes { id role } }
}
"""


def refresh_roles(ctx: SyncContext) -> None:
    """Bring every stored theme's `role` up to date (publishing one demotes another)."""
    data = ctx.query(ROLES_QUERY, {"first": 50, "after": None})
    for node in (data.get("themes") or {}).get("nodes") or []:
        ctx.collection(NAME).update_one({"_id": node["id"]}, {"$set": {"role": node["role"]}})
