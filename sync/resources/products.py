"""Products with every variant and media reference; product images into `media`."""

from __future__ import annotations

from typing import Any

from config_db.mongo import MongoDocument
from sync.bulk.path import main_phase
from sync.bulk.runtime import BulkSpec, has_all
from sync.orchestration.context import SyncContext
from sync.orchestration.paging import pages, rest_of
from sync.resources.deletions import apply_deletion_events
from sync.resources.memberships import forget_memberships, refresh_memberships
from sync.storage.documents import convert_timestamps
from sync.storage.downloads import Downloader
from sync.storage.media_store import MEDIA, fetch_missing, media_document, store_media
from sync.storage.writer import sweep, unseen_query, write_documents

NAME = "products"
VARIANT_FIELDS = """
  id legacyResourceId title sku price compareAtPrice barcode position inventoryQuantity
  taxable availableForSale createdAt updatedAt selectedOptions { name value }
  image { id url altText }
"""
MEDIA_FIELDS = """
  __typename id alt mediaContentType status
  ... on MediaImage { mimeType image { url altText width height } originalSource { url fileSize }
                      createdAt updatedAt }
"""
# Nested first pages stay small so a products page can be large; the rest is paged apart.
PRODUCT_FIELDS = f"""
  id legacyResourceId title handle descriptionHtml vendor productType status tags
  templateSuffix createdAt updatedAt publishedAt seo {{ title description }}
  options {{ id name position values }}
  variantsCount {{ count }}
  variants(first: 10) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {VARIANT_FIELDS} }} }}
  mediaCount {{ count }}
  media(first: 5) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {MEDIA_FIELDS} }} }}
"""
PRODUCTS_QUERY = f"""
query Products($first: Int!, $after: String, $query: String, $sortKey: ProductSortKeys) {{
  products(first: $first, after: $after, query: $query, sortKey: $sortKey) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {PRODUCT_FIELDS} }}
  }}
}}
"""
PRODUCT_QUERY = f"query Product($id: ID!) {{ product(id: $id) {{ {PRODUCT_FIELDS} }} }}"
# The bulk export: the same fields, nested connections whole (variants and media as lines).
BULK = BulkSpec(
    root="products",
    fields=f"""
      id legacyResourceId title handle descriptionHtml vendor productType status tags
      templateSuffix createdAt updatedAt publishedAt seo {{ title description }}
      options {{ id name position values }}
      variantsCount {{ count }}
      variants {{ edges {{ node {{ {VARIANT_FIELDS} }} }} }}
      mediaCount {{ count }}
      media {{ edges {{ node {{ {MEDIA_FIELDS} }} }} }}
    """,
    place=lambda line: ("variants",) if "/ProductVariant/" in str(line.get("id")) else ("media",),
    refetch_query=PRODUCT_QUERY,
    refetch_path=("product",),
    count_root="productsCount",
    complete=lambda node: (
        has_all(node, ("variants",), ("variantsCount", "count"))
        and has_all(node, ("media",), ("mediaCount", "count"))
    ),
)
MORE_VARIANTS_QUERY = f"""
query ProductVariants($id: ID!, $first: Int!, $after: String) {{
  product(id: $id) {{
    variants(first: $first, after: $after) {{
      pageInfo {{ hasNextPage endCursor }} nodes {{ {VARIANT_FIELDS} }}
    }}
  }}
}}
"""
MORE_MEDIA_QUERY = f"""
query ProductMedia($id: ID!, $first: Int!, $after: String) {{
  product(id: $id) {{
    media(first: $first, after: $after) {{
      pageInfo {{ hasNextPage endCursor }} nodes {{ {MEDIA_FIELDS} }}
    }}
  }}
}}
"""


def product_document(ctx: SyncContext, node: dict[str, Any]) -> MongoDocument:
    """A product with all its variants and media references as plain arrays."""
    product_id = node["id"]
    document = {key: value for key, value in node.items() if key not in ("variants", "media")}
    document["_id"] = product_id
    document["variants"] = rest_of(
        ctx, node.get("variants"), MORE_VARIANTS_QUERY, ("product", "variants"), product_id
    )
    document["media"] = [
        {key: value for key, value in media.items() if key != "__typename"}
        | {"type": media.get("__typename")}
        for media in rest_of(
            ctx, node.get("media"), MORE_MEDIA_QUERY, ("product", "media"), product_id
        )
    ]
    converted: MongoDocument = convert_timestamps(document)
    return converted


def write_product_media(
    ctx: SyncContext, downloader: Downloader, products: list[MongoDocument]
) -> None:
    media = [
        media_document(item | {"__typename": item.get("type")}, productId=product["_id"])
        for product in products
        for item in product["media"]
    ]
    counts, downloaded, failed = store_media(ctx, media, downloader, run_id=None)
    ctx.count(mediaUpserted=counts.upserted, mediaDownloaded=downloaded, mediaFailed=failed)
    # Media a product no longer has: unlink it, and tombstone it unless the Files library has it.
    current = [item["_id"] for item in media]
    removed = {
        "productId": {"$in": [product["_id"] for product in products]},
        "_id": {"$nin": current},
        "deleted": {"$ne": True},
    }
    _drop_product_media(ctx, removed)


def _drop_product_media(ctx: SyncContext, query: dict[str, Any]) -> None:
    collection = ctx.collection(MEDIA)
    now = ctx.now()
    collection.update_many(
        {**query, "inFilesLibrary": {"$ne": True}}, {"$set": {"deleted": True, "deletedAt": now}}
    )
    collection.update_many({**query, "inFilesLibrary": True}, {"$unset": {"productId": ""}})


def write_products(ctx: SyncContext, downloader: Downloader, nodes: list[MongoDocument]) -> None:
    """One page (or bulk batch) of products, with their images."""
    documents = [product_document(ctx, node) for node in nodes]
    counts = write_documents(ctx.collection(NAME), documents, run_id=ctx.run_id, now=ctx.now())
    ctx.count(seen=len(documents), upserted=counts.upserted, skipped=counts.skipped)
    # A product rejected as older than the stored copy must not rewrite its images.
    write_product_media(
        ctx, downloader, [doc for doc in documents if doc["_id"] not in counts.rejected]
    )
    if ctx.mode == "incremental":  # a full pass reads every collection's members instead
        refresh_memberships(ctx, [doc["_id"] for doc in documents])


def sync(ctx: SyncContext, downloader: Downloader) -> None:
    """Full: every product, then tombstone the unseen. Incremental: changes and deletions."""
    products = ctx.collection(NAME)
    variables = {
        "query": ctx.search_filter(),
        "sortKey": "UPDATED_AT" if ctx.mode == "incremental" else "ID",
    }

    def write(nodes: list[MongoDocument]) -> None:
        write_products(ctx, downloader, nodes)

    def paged() -> None:
        for nodes in pages(ctx, "main", PRODUCTS_QUERY, ("products",), variables):
            write(nodes)

    main_phase(ctx, BULK, write, paged)
    if ctx.mode == "incremental":
        deleted = apply_deletion_events(ctx, "PRODUCT", NAME)
    else:
        unseen = unseen_query(ctx.run_id, ctx.run_started)
        deleted = [doc["_id"] for doc in products.find(unseen, {"_id": 1})]
        ctx.count(
            deleted=sweep(products, run_id=ctx.run_id, run_started=ctx.run_started, now=ctx.now())
        )
    forget_products(ctx, deleted)
    missing = fetch_missing(ctx, downloader, {"productId": {"$exists": True}})
    ctx.count(mediaDownloaded=missing)


def forget_products(ctx: SyncContext, deleted: list[str]) -> None:
    """After products were tombstoned: their images too, and their collection memberships."""
    if not deleted:
        return
    _drop_product_media(ctx, {"productId": {"$in": deleted}, "deleted": {"$ne": True}})
    forget_memberships(ctx, deleted)
