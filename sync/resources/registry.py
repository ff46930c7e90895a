"""The resources a sync job covers, by store collection name, in the order they start."""

from __future__ import annotations

from collections.abc import Callable

from sync.orchestration.context import SyncContext
from sync.resources import collections, content, discounts, media, products, themes
from sync.storage.downloads import Downloader

ResourceSync = Callable[[SyncContext, Downloader], None]

RESOURCES: dict[str, ResourceSync] = {
    "products": products.sync,
    "collections": lambda ctx, _: collections.sync(ctx),
    "blogs": lambda ctx, _: content.sync_blogs(ctx),
    "articles": lambda ctx, _: content.sync_articles(ctx),
    "themedatas": themes.sync,
    "media": media.sync,
    "discounts": lambda ctx, _: discounts.sync(ctx),
}
RESOURCE_NAMES: tuple[str, ...] = tuple(RESOURCES)
