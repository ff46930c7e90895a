"""Errors of the sync package."""

from __future__ import annotations

from config_db.errors import ShopsyncError


class SyncError(ShopsyncError):
    """Root of the sync package's errors."""


class BrokerUnavailable(SyncError):
    status = 503
    code = "broker_unavailable"


class JobNotFound(SyncError):
    status = 404
    code = "not_found"


class SyncRequestInvalid(SyncError):
    status = 400
    code = "validation_error"


class ShopifyError(SyncError):
    """Shopify's Admin API could not give us what we asked for."""

    status = 502
    code = "shopify_error"


class ShopifyAuthError(ShopifyError):
    """401/403: the store's token is wrong, revoked or lacks a scope; never retried."""

    code = "shopify_auth_error"


class ShopifyUnavailable(ShopifyError):
    """Timeouts, connection errors or 5xx persisted through every retry."""

    code = "shopify_unavailable"


class ShopifyQueryError(ShopifyError):
    """GraphQL errors in a 200 answer (other than throttling)."""

    code = "shopify_query_error"


class ShopifyAccessDenied(ShopifyQueryError):
    """ACCESS_DENIED: the app lacks the access scope this query needs."""

    code = "access_denied"

    def __init__(self, message: str, scope: str) -> None:
        super().__init__(message)
        self.scope = scope


class StoreCircuitOpen(ShopifyUnavailable):
    """The store's circuit breaker is open: its calls wait until `reopen_at` (epoch s)."""

    code = "circuit_open"

    def __init__(self, message: str, reopen_at: float) -> None:
        super().__init__(message)
        self.reopen_at = reopen_at


class QueryTooExpensive(ShopifyQueryError):
    """MAX_COST_EXCEEDED: the page must be made smaller."""

    code = "max_cost_exceeded"


class MediaDownloadError(SyncError):
    code = "media_download_failed"


class ClientNotActive(SyncError):
    status = 409
    code = "client_not_active"


class BulkError(ShopifyError):
    """A bulk operation could not be started, read or downloaded."""

    code = "bulk_error"


class BulkBusy(BulkError):
    """OPERATION_IN_PROGRESS: the shop runs as many bulk queries as Shopify allows; wait."""

    code = "bulk_busy"


class BulkRefused(BulkError):
    """Shopify refused the bulk query (userErrors): the paged path does the work instead."""

    code = "bulk_refused"


class BulkExportGone(BulkError):
    """The export's URL expired or vanished before it was read to the end."""

    code = "bulk_export_gone"
