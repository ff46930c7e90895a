"""Every shopsync metric, defined once at the bottom layer so any package can record one.

Labels stay bounded: a store is its `client_key` (from our own config, never from a request
header), routes are Flask URL rules, outcomes come from fixed sets. No label carries a
document id, an event id, a URL with ids, or a secret.

Import this only after the process has chosen its multiprocess folder
(config_db.metrics_dir): prometheus_client picks its mode when first imported.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter, Histogram

# --- control API (web) ---------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "shopsync_http_requests_total",
    "Control API requests answered, by Flask route, method and status code.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "shopsync_http_request_duration_seconds",
    "Time from the request's arrival in Flask to its answer.",
    ["route", "method"],
)
WEBHOOK_DELIVERIES = Counter(
    "shopsync_webhook_deliveries_total",
    "Webhook deliveries received, by store (empty when none is known) and outcome.",
    ["client_key", "outcome"],
)

# --- workers -------------------------------------------------------------------------------

WEBHOOK_EVENTS = Counter(
    "shopsync_webhook_events_total",
    "Logged webhook events a worker handled: applied, ignored, failed, or retried later.",
    ["client_key", "outcome"],
)
DOCUMENTS = Counter(
    "shopsync_documents_total",
    "Documents the sync code wrote (upserted), found unchanged or older than stored "
    "(skipped) or tombstoned (deleted), by store and resource.",
    ["client_key", "resource", "outcome"],
)
SYNC_PASS_SECONDS = Histogram(
    "shopsync_sync_pass_duration_seconds",
    "Duration of a resource's sync pass, from its first slice to its end.",
    ["resource", "mode", "status"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
)
SYNC_JOBS = Counter(
    "shopsync_sync_jobs_total",
    "Sync jobs ended, by store, mode and final status.",
    ["client_key", "mode", "status"],
)
BULK_OPERATIONS = Counter(
    "shopsync_bulk_operations_total",
    "Bulk operations started (created) and seen ending (completed, failed, canceled, "
    "expired, lost).",
    ["client_key", "status"],
)
GRAPHQL_REQUESTS = Counter(
    "shopsync_graphql_requests_total",
    "Admin GraphQL requests sent, by store and result (ok, throttled, error, unauthorized).",
    ["client_key", "result"],
)
GRAPHQL_POINTS = Counter(
    "shopsync_graphql_points_total",
    "Query cost points Shopify charged (actualQueryCost).",
    ["client_key"],
)
GRAPHQL_THROTTLED = Counter(
    "shopsync_graphql_throttled_total",
    "THROTTLED answers (HTTP 200 with THROTTLED, or HTTP 429).",
    ["client_key"],
)
THROTTLE_WAITS = Counter(
    "shopsync_graphql_throttle_waits_total",
    "Waits for the store's point budget to refill (before sending, or after THROTTLED).",
    ["client_key"],
)
THROTTLE_WAIT_SECONDS = Counter(
    "shopsync_graphql_throttle_wait_seconds_total",
    "Seconds spent in those waits.",
    ["client_key"],
)
TOKEN_REFRESHES = Counter(
    "shopsync_token_refreshes_total",
    "Access token requests for client-credentials and expiring tokens: refreshed, refused "
    "(the client became needs_auth) or failed (Shopify unreachable; retried later).",
    ["client_key", "mode", "outcome"],
)

# --- the clock -------------------------------------------------------------------------------

CLOCK_TICKS = Counter(
    "shopsync_clock_ticks_total",
    "Clock ticks: led (this clock held the leader lease and acted), follower (another clock "
    "leads), failed (Redis or MongoDB trouble; tried again next tick).",
    ["outcome"],
)
SYNC_SCHEDULED = Counter(
    "shopsync_sync_jobs_scheduled_total",
    "Sync jobs the clock created, by store and mode (full reconciliation or incremental).",
    ["client_key", "mode"],
)
WATCHDOG_RESENDS = Counter(
    "shopsync_watchdog_resends_total",
    "Lost messages the clock's watchdog sent again: a job's, or one resource run's.",
    ["client_key", "kind"],
)

WRITE_OUTCOMES = ("upserted", "skipped", "deleted")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def record_documents(client_key: str, resource: str, amounts: Mapping[str, int]) -> None:
    """Count a sync step's writes (from SyncContext.count's keyword amounts)."""
    for outcome in WRITE_OUTCOMES:
        amount = amounts.get(outcome, 0)
        if amount > 0:
            DOCUMENTS.labels(client_key, resource, outcome).inc(amount)


def method_label(method: str) -> str:
    """The HTTP method, or `other` for the made-up ones a client may send."""
    return method if method in HTTP_METHODS else "other"
