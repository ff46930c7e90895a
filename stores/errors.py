"""Errors of the store-database package."""

from __future__ import annotations

from config_db.errors import ShopsyncError


class StoreError(ShopsyncError):
    """Root of the stores package's errors."""


class StoreNotFound(StoreError):
    status = 404
    code = "not_found"


class BadQuery(StoreError):
    status = 400
    code = "validation_error"


class StoreDatabaseError(StoreError):
    status = 503
    code = "database_unavailable"


class ArchiveError(StoreError):
    """A store archive was refused: damaged, of an unknown format, or its target is taken."""

    status = 400
    code = "archive_refused"


def quoted(value: object, limit: int = 60) -> str:
    """`repr(value)` cut to `limit` characters: error messages never echo a huge input."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
