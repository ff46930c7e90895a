"""Store database and collection names."""

from __future__ import annotations

import re

from config_db.models import RESERVED_DATABASE_NAMES
from stores.errors import BadQuery

# Collections frontends read; names are part of the outside interface.
SYNCED_COLLECTIONS = (
    "products",
    "collections",
    "blogs",
    "articles",
    "themedatas",
    "media",
    "discounts",
)
WEBHOOK_EVENTS = "webhookevents"
PUBLIC_COLLECTIONS = (*SYNCED_COLLECTIONS, WEBHOOK_EVENTS)
# Internal bookkeeping collections start with "_" so they never clash with a resource.
SYNC_JOBS = "_syncjobs"
SYNC_STATE = "_syncstate"
# Who is downloading a media document's bytes right now (one download per media).
MEDIA_CLAIMS = "_mediaclaims"
MEDIA_BUCKET = "mediafiles"
# Bookkeeping fields on synced documents, never shown by the read API.
HASH_FIELD = "_contentHash"
RUN_FIELD = "_syncRun"
# The run that last wrote the document: a page done again after a crash counts as written.
WRITTEN_FIELD = "_writtenRun"
HIDDEN_FIELDS = {HASH_FIELD: 0, RUN_FIELD: 0, WRITTEN_FIELD: 0}
THEME_BUCKET = "themefiles"

# The GraphQL type names a numeric id may stand for, per collection.
GID_TYPES: dict[str, tuple[str, ...]] = {
    "products": ("Product",),
    "collections": ("Collection",),
    "blogs": ("Blog",),
    "articles": ("Article",),
    "themedatas": ("OnlineStoreTheme",),
    "media": ("MediaImage", "GenericFile", "Video", "ExternalVideo", "Model3d"),
    "discounts": ("DiscountCodeNode", "DiscountAutomaticNode"),
}
_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,48}$")
MAX_DATABASE_NAME_BYTES = 63


def database_name(client_key: str, prefix: str = "") -> str:
    """Store database name = prefix + clientKey, refusing anything unsafe."""
    name = prefix + client_key
    if (
        not _KEY_RE.match(client_key)
        or len(name.encode()) > MAX_DATABASE_NAME_BYTES
        or name.lower() in RESERVED_DATABASE_NAMES
    ):
        raise BadQuery(f"{client_key!r} is not a valid clientKey", field="clientKey")
    return name


def candidate_ids(collection: str, doc_id: str) -> list[str]:
    """The `_id` values a path id may mean: itself, or GIDs when it is numeric."""
    if doc_id.isdigit():
        return [f"gid://shopify/{kind}/{doc_id}" for kind in GID_TYPES.get(collection, ())]
    return [doc_id]
