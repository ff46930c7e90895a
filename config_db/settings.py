"""Settings read from the environment: one pydantic model for every process."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from limits import parse_many
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config_db.errors import SettingsError

# Used only when SHOPSYNC_ENV=development and the variable is unset, so `make run` works at once.
DEV_API_KEY = "dev-api-key"
DEV_SECRET_KEY = "dev-secret-key-not-for-production"
MIB = 1024 * 1024
DEFAULT_SCOPES = "read_products,read_content,read_themes,read_files,read_discounts"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """Every setting shopsync reads; all durations are in seconds."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    mongodb_uri: str = Field("mongodb://127.0.0.1:27017", validation_alias=_env("MONGODB_URI"))
    redis_url: str = Field("redis://127.0.0.1:6379/0", validation_alias=_env("REDIS_URL"))
    api_key: SecretStr | None = Field(None, validation_alias=_env("SHOPSYNC_API_KEY"))
    secret_key: SecretStr | None = Field(None, validation_alias=_env("SHOPSYNC_SECRET_KEY"))
    env: Literal["development", "production"] = Field(
        "development", validation_alias=_env("SHOPSYNC_ENV")
    )
    public_url: str | None = Field(None, validation_alias=_env("SHOPSYNC_PUBLIC_URL"))
    # One JSON object a line, or readable text; unset: json in production, text in development.
    log_format: Literal["json", "text"] | None = Field(
        None, validation_alias=_env("SHOPSYNC_LOG_FORMAT")
    )
    db_prefix: str = Field(
        "", pattern=r"^[A-Za-z0-9_-]{0,15}$", validation_alias=_env("SHOPSYNC_DB_PREFIX")
    )
    shopify_api_version: str = Field(
        "2026-07",
        pattern=r"^(\d{4}-\d{2}|unstable)$",
        validation_alias=_env("SHOPIFY_API_VERSION"),
    )
    shopify_client_id: str | None = Field(None, validation_alias=_env("SHOPIFY_CLIENT_ID"))
    shopify_client_secret: SecretStr | None = Field(
        None, validation_alias=_env("SHOPIFY_CLIENT_SECRET")
    )
    shopify_previous_client_secret: SecretStr | None = Field(
        None, validation_alias=_env("SHOPIFY_PREVIOUS_CLIENT_SECRET")
    )
    max_body_bytes: int = Field(MIB, gt=0, validation_alias=_env("SHOPSYNC_MAX_BODY_BYTES"))
    # Product payloads with thousands of variants are large; Shopify's are well under this.
    webhook_max_body_bytes: int = Field(
        5 * MIB, gt=0, validation_alias=_env("SHOPSYNC_WEBHOOK_MAX_BODY_BYTES")
    )
    # Queued webhook events older than this are enqueued again by the clock (Redis was down).
    webhook_requeue_after_seconds: float = Field(
        30.0, gt=0, validation_alias=_env("SHOPSYNC_WEBHOOK_REQUEUE_AFTER_SECONDS")
    )
    mongo_timeout_seconds: float = Field(
        5.0, gt=0, validation_alias=_env("SHOPSYNC_MONGO_TIMEOUT_SECONDS")
    )
    redis_timeout_seconds: float = Field(
        3.0, gt=0, validation_alias=_env("SHOPSYNC_REDIS_TIMEOUT_SECONDS")
    )
    # How long a silent worker keeps its messages before Redis redelivers them (kill -9).
    worker_heartbeat_timeout_seconds: float = Field(
        60.0, gt=0, validation_alias=_env("SHOPSYNC_WORKER_HEARTBEAT_TIMEOUT_SECONDS")
    )

    # Dramatiq's Redis broker: per million commands, how many also requeue dead workers' messages.
    # Dramatiq's default; the clock also runs that maintenance on every tick, so recovery from a
    # killed worker never waits on this chance.
    broker_maintenance_chance: int = Field(
        1000, ge=1, le=1_000_000, validation_alias=_env("SHOPSYNC_BROKER_MAINTENANCE_CHANCE")
    )
    # Worker and clock processes retry each Redis command through an outage this long before
    # the error reaches the code (the web process fails fast instead).
    redis_outage_seconds: float = Field(
        300.0, ge=0, validation_alias=_env("SHOPSYNC_REDIS_OUTAGE_SECONDS")
    )
    # Shopify Admin API client.
    shopify_connect_timeout_seconds: float = Field(
        5.0, gt=0, validation_alias=_env("SHOPSYNC_SHOPIFY_CONNECT_TIMEOUT_SECONDS")
    )
    shopify_read_timeout_seconds: float = Field(
        30.0, gt=0, validation_alias=_env("SHOPSYNC_SHOPIFY_READ_TIMEOUT_SECONDS")
    )
    shopify_max_attempts: int = Field(
        8, ge=1, validation_alias=_env("SHOPSYNC_SHOPIFY_MAX_ATTEMPTS")
    )
    backoff_cap_seconds: float = Field(
        30.0, gt=0, validation_alias=_env("SHOPSYNC_BACKOFF_CAP_SECONDS")
    )
    # Sync engine.
    lookback_seconds: float = Field(300.0, ge=0, validation_alias=_env("SHOPSYNC_LOOKBACK_SECONDS"))
    store_concurrency: int = Field(2, ge=1, validation_alias=_env("SHOPSYNC_STORE_CONCURRENCY"))
    sync_slice_seconds: float = Field(
        120.0, gt=0, validation_alias=_env("SHOPSYNC_SYNC_SLICE_SECONDS")
    )
    sync_lease_seconds: float = Field(
        90.0, gt=0, validation_alias=_env("SHOPSYNC_SYNC_LEASE_SECONDS")
    )
    media_concurrency: int = Field(4, ge=1, validation_alias=_env("SHOPSYNC_MEDIA_CONCURRENCY"))
    media_max_bytes: int = Field(
        2 * 1024 * MIB, gt=0, validation_alias=_env("SHOPSYNC_MEDIA_MAX_BYTES")
    )
    # A job none of whose runs has moved for this long is sent again by the clock, and failed
    # after three such revivals. Unset: derived from the slice and lease (see job_stall).
    job_stall_seconds: float | None = Field(
        None, gt=0, validation_alias=_env("SHOPSYNC_JOB_STALL_SECONDS")
    )
    # GridFS files no document points at (a crash between upload and attach) are removed by
    # the clock once older than the grace, at most once per interval per store.
    gridfs_orphan_grace_seconds: float = Field(
        3600.0, gt=0, validation_alias=_env("SHOPSYNC_GRIDFS_ORPHAN_GRACE_SECONDS")
    )
    gridfs_sweep_interval_seconds: float = Field(
        3600.0, gt=0, validation_alias=_env("SHOPSYNC_GRIDFS_SWEEP_INTERVAL_SECONDS")
    )
    # Bulk operations (full passes, and incremental passes whose delta is large).
    sync_path: Literal["auto", "bulk", "paged"] = Field(
        "auto", validation_alias=_env("SHOPSYNC_SYNC_PATH")
    )
    # An incremental pass of at least this many changed objects goes bulk too.
    bulk_incremental_threshold: int = Field(
        5000, ge=1, validation_alias=_env("SHOPSYNC_BULK_INCREMENTAL_THRESHOLD")
    )
    # Bulk queries running at once per shop (Shopify: 5 from API 2026-01, 1 before). Unset:
    # Shopify's limit for SHOPIFY_API_VERSION.
    bulk_concurrency: int | None = Field(
        None, ge=1, validation_alias=_env("SHOPSYNC_BULK_CONCURRENCY")
    )
    # Polling a running operation backs off up to this interval (the finish webhook wakes it).
    bulk_poll_max_seconds: float = Field(
        30.0, gt=0, validation_alias=_env("SHOPSYNC_BULK_POLL_MAX_SECONDS")
    )
    # A shop Shopify refused bulk access (ACCESS_DENIED) goes paged, and tries bulk again after.
    bulk_retry_after_denied_seconds: float = Field(
        86400.0, gt=0, validation_alias=_env("SHOPSYNC_BULK_RETRY_AFTER_DENIED_SECONDS")
    )
    # Scheduler (clock process).
    incremental_interval_seconds: float = Field(
        300.0, gt=0, validation_alias=_env("SHOPSYNC_INCREMENTAL_INTERVAL_SECONDS")
    )
    full_sync_interval_seconds: float = Field(
        86400.0, gt=0, validation_alias=_env("SHOPSYNC_FULL_SYNC_INTERVAL_SECONDS")
    )
    scheduler_tick_seconds: float = Field(
        15.0, gt=0, validation_alias=_env("SHOPSYNC_SCHEDULER_TICK_SECONDS")
    )

    # Store authorization: scopes asked for at install, where the admin lives, token refresh.
    scopes: str = Field(DEFAULT_SCOPES, validation_alias=_env("SHOPSYNC_SCOPES"))
    shopify_admin_url: str = Field(
        "https://{shop}.myshopify.com", validation_alias=_env("SHOPSYNC_SHOPIFY_ADMIN_URL")
    )
    # An expiring token is refreshed once this share of its lifetime has passed.
    token_refresh_fraction: float = Field(
        0.8, gt=0, lt=1, validation_alias=_env("SHOPSYNC_TOKEN_REFRESH_FRACTION")
    )
    # Per-store circuit breaker: this many failed calls in a row (5xx, timeouts, connection
    # errors; any answer starts again) within the window open it for the cool-down, doubled
    # on each trip up to the cap.
    breaker_failures: int = Field(8, ge=1, validation_alias=_env("SHOPSYNC_BREAKER_FAILURES"))
    breaker_window_seconds: float = Field(
        60.0, gt=0, validation_alias=_env("SHOPSYNC_BREAKER_WINDOW_SECONDS")
    )
    breaker_cooldown_seconds: float = Field(
        30.0, gt=0, validation_alias=_env("SHOPSYNC_BREAKER_COOLDOWN_SECONDS")
    )
    breaker_max_cooldown_seconds: float = Field(
        600.0, gt=0, validation_alias=_env("SHOPSYNC_BREAKER_MAX_COOLDOWN_SECONDS")
    )
    # Control API rate limits, Flask-Limiter notation ("120/minute", "10/second;1000/hour"):
    # reads and writes per API key, failed authentication per client IP (config_db/rate_limits).
    rate_limit_read: str = Field("1200/minute", validation_alias=_env("SHOPSYNC_RATE_LIMIT_READ"))
    rate_limit_write: str = Field("120/minute", validation_alias=_env("SHOPSYNC_RATE_LIMIT_WRITE"))
    rate_limit_auth_failures: str = Field(
        "20/minute", validation_alias=_env("SHOPSYNC_RATE_LIMIT_AUTH_FAILURES")
    )
    # Proxies in front of the web process whose X-Forwarded-For entry is believed. Unset: 1 in
    # production (Heroku's router), 0 in development (see proxy_hops).
    trusted_proxies: int | None = Field(
        None, ge=0, le=10, validation_alias=_env("SHOPSYNC_TRUSTED_PROXIES")
    )

    @field_validator("rate_limit_read", "rate_limit_write", "rate_limit_auth_failures")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            items = parse_many(value)
        except ValueError:
            raise ValueError(f"not a rate limit like 120/minute: {value!r}") from None
        if any(item.amount < 1 for item in items):
            raise ValueError(f"a rate limit must allow at least one request: {value!r}")
        return value
    # Metrics: the worker processes' and the clock's Prometheus endpoints (0: none; the web
    # serves /metrics), and the base folder of the multiprocess files, one per process type.
    metrics_port: int = Field(9191, ge=0, le=65535, validation_alias=_env("SHOPSYNC_METRICS_PORT"))
    clock_metrics_port: int = Field(
        9192, ge=0, le=65535, validation_alias=_env("SHOPSYNC_CLOCK_METRICS_PORT")
    )
    metrics_dir: str | None = Field(None, validation_alias=_env("SHOPSYNC_METRICS_DIR"))

    @property
    def bulk_slots(self) -> int:
        """Concurrent bulk queries per shop: the setting, or Shopify's limit for the version."""
        if self.bulk_concurrency is not None:
            return self.bulk_concurrency
        return 5 if self.shopify_api_version >= "2026-01" else 1

    @property
    def run_stall_seconds(self) -> float:
        """How long a run's message may sit in a worker's hands with no sign of work.

        A prefetched message waits for up to two slices of the worker's other messages, and a
        dead worker's for the heartbeat timeout; past that, it was lost.
        """
        return (
            2 * self.sync_slice_seconds
            + self.sync_lease_seconds
            + self.worker_heartbeat_timeout_seconds
        )

    @property
    def job_stall(self) -> float:
        """SHOPSYNC_JOB_STALL_SECONDS, or by default twice a run's stall bound (minutes)."""
        return self.job_stall_seconds or 2 * self.run_stall_seconds

    @property
    def scope_list(self) -> list[str]:
        return [scope.strip() for scope in self.scopes.split(",") if scope.strip()]

    def app_credentials(self) -> tuple[str, str] | None:
        """(SHOPIFY_CLIENT_ID, SHOPIFY_CLIENT_SECRET) when both are set."""
        secret = self.shopify_client_secret.get_secret_value() if self.shopify_client_secret else ""
        if self.shopify_client_id and secret:
            return self.shopify_client_id, secret
        return None

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def effective_log_format(self) -> Literal["json", "text"]:
        """SHOPSYNC_LOG_FORMAT, or json in production and text in development."""
        return self.log_format or ("json" if self.is_production else "text")

    @property
    def proxy_hops(self) -> int:
        """SHOPSYNC_TRUSTED_PROXIES, else 1 in production (Heroku's router appends the client's
        address to X-Forwarded-For) and 0 in development (no proxy: the header is the client's)."""
        if self.trusted_proxies is not None:
            return self.trusted_proxies
        return 1 if self.is_production else 0

    def check_runnable(self) -> None:
        """Refuse to start production without the keys that protect the API and tokens."""
        if not self.is_production:
            return
        missing = [
            name
            for name, value in (
                ("SHOPSYNC_API_KEY", self.api_key),
                ("SHOPSYNC_SECRET_KEY", self.secret_key),
            )
            if value is None or not value.get_secret_value().strip()
        ]
        if missing:
            raise SettingsError(
                f"SHOPSYNC_ENV=production needs {' and '.join(missing)} set; refusing to start"
            )
        if self.public_url and not self.public_url.startswith("https://"):
            raise SettingsError("SHOPSYNC_PUBLIC_URL must be https in production (Shopify's rule)")

    def api_key_value(self) -> str:
        """The control API key (a fixed development key when unset outside production)."""
        if self.api_key is not None and self.api_key.get_secret_value():
            return self.api_key.get_secret_value()
        self.check_runnable()
        return DEV_API_KEY

    def secret_key_value(self) -> str:
        """The key material tokens are encrypted with."""
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        self.check_runnable()
        return DEV_SECRET_KEY


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    settings = Settings()
    settings.check_runnable()
    return settings
