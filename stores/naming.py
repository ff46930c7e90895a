"""Store database and collection names."""

from __future__ import annotations

import re

from config_db.models import RESERVED_DATABASE_NAMES
from stores.errors import BadQuery, quoted

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
# Members of huge collections ({collectionId, index, productIds} chunks), and per product when
# its collections were last read from Shopify.
COLLECTION_MEMBERS = "_collectionmembers"
# Codes of huge discounts ({discountId, index, codes} chunks): stores/list_layout.py.
DISCOUNT_CODES = "_discountcodes"
MEMBERSHIP_STATE = "_membershipstate"
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
_KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,48}")
MAX_DATABASE_NAME_BYTES = 63


def check_client_key(client_key: str) -> str:
    """`client_key` if it has clientKey syntax, else BadQuery (it never reaches MongoDB)."""
    # fullmatch: `$` in a pattern also matches before a trailing newline.
    if not _KEY_RE.fullmatch(client_key):
        raise BadQuery(f"{quoted(client_key)} is not a valid clientKey", field="clientKey")
    return client_key


def database_name(client_key: str, prefix: str = "") -> str:
    """Store database name = prefix + clientKey, refusing anything unsafe."""
    name = prefix + check_client_key(client_key)
    if len(name.encode()) > MAX_DATABASE_NAME_BYTES or name.lower() in RESERVED_DATABASE_NAMES:
        raise BadQuery(f"{quoted(client_key)} is not a valid clientKey", field="clientKey")
    return name


def candidate_ids(collection: str, doc_id: str) -> list[str]:
    """The `_id` values a path id may mean: itself, or GIDs when it is numeric."""
    # isascii: "²" is a digit to str.isdigit, but no Shopify id.
    if doc_id.isascii() and doc_id.isdigit():
        return [f"gid://shopify/{kind}/{doc_id}" for kind in GID_TYPES.get(collection, ())]
    return [doc_id]
