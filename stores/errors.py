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
