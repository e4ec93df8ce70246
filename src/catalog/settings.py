"""Runtime configuration, read once at start-up from `CATALOG_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service; build one with `Settings()` in an entry point, never at import."""

    model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore")

    # Where things run.
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    data_dir: Path = Path(".catalog")
    log_level: str = "INFO"
    # Log lines: "auto" is JSON when stderr is not a terminal, readable columns on one.
    log_format: Literal["auto", "json", "console"] = "auto"

    # The database; unset means the embedded PostgreSQL under `data_dir`.
    # Any libpq URL, including Unix-socket ones (postgresql://user@/db?host=/run/postgresql).
    database_url: str | None = None

    # Demo catalogue loaded on the first start of `catalog serve`.
    demo_data: bool = True
    demo_products: int = Field(default=2000, ge=0)

    @field_validator("database_url")
    @classmethod
    def _postgresql_url(cls, url: str | None) -> str | None:
        if url is None or url == "":
            return None
        if not url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            raise ValueError("must be a postgresql:// URL")
        return url

    # API limits.
    page_size_default: int = Field(default=50, ge=1)
    page_size_max: int = Field(default=200, ge=1)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)

    # Database pool.
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)

    # Job workers.
    worker_concurrency: int = Field(default=5, ge=1, le=200)
    worker_queues: list[str] | None = None  # None: every queue
    shutdown_grace_s: float = Field(default=30.0, ge=0)
    worker_heartbeat_s: float = Field(default=5.0, gt=0)
    # A worker silent this long is dead: its jobs are requeued (or failed) by the sweep.
    worker_stalled_after_s: float = Field(default=20.0, gt=0)
    recovery_interval_s: float = Field(default=5.0, gt=0)
    worker_poll_s: float = Field(default=2.0, gt=0)
    # Extra job registries to load, as "module:attribute" (tests and extensions).
    job_modules: list[str] = []

    # Journal retention.
    retention_succeeded_h: float = Field(default=24.0, gt=0)
    retention_failed_d: float = Field(default=14.0, gt=0)
    retention_batch_size: int = Field(default=1000, ge=1)

    # Recurring schedules: per-id overrides of the defaults declared in code, e.g.
    # CATALOG_SCHEDULES='{"daily-analytics": {"cron": "0 3 * * *", "timezone": "Europe/Berlin"}}'
    schedules: dict[str, dict[str, Any]] = {}
    # A missed slot younger than this gets its one catch-up run under misfire=run_once.
    misfire_grace_s: float = Field(default=3600.0, ge=0)
    scheduler_enabled: bool = True
    # Test-only: "module:attribute" of a catalog.work.schedules.scheduler.FaultHooks that the
    # fault tests use to stand between a scheduler's steps (kill it after a claim, slow it).
    scheduler_fault_hooks: str | None = None

    # Background services: how often a standby instance tries to take over a service.
    service_takeover_s: float = Field(default=3.0, gt=0)
    services_enabled: bool = True

    # Cache: Redis when set (redis://host:6379/0), else an in-process cache per process.
    redis_url: str | None = None
    cache_prefix: str = Field(default="catalog", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    cache_product_ttl_s: float = Field(default=3600.0, gt=0)
    cache_category_ttl_s: float = Field(default=3600.0, gt=0)
    cache_report_ttl_s: float = Field(default=3600.0, gt=0)
    cache_timeout_s: float = Field(default=0.5, gt=0)  # per Redis call
    cache_retry_after_s: float = Field(default=5.0, ge=0)  # a failed cache is skipped this long
    cache_memory_max_entries: int = Field(default=50_000, ge=1)
    # Cache warming: how many of the most popular products each warm preloads.
    cache_warm_products: int = Field(default=500, ge=0, le=100_000)

    # Events: RabbitMQ when set (amqp://user:pass@host:5672/); unset, no relay runs.
    rabbitmq_url: str | None = None
    events_exchange: str = Field(default="catalog.events", min_length=1)

    # Search: Elasticsearch when set (http://host:9200), else tantivy under data_dir/search.
    elasticsearch_url: str | None = None
    search_index_prefix: str = Field(
        default="catalog-products", min_length=1, pattern=r"^[a-z0-9][a-z0-9_.-]*$"
    )
    # Change-log rows per search-sync batch (one index commit and one cursor save each; a
    # killed step repeats at most one batch). Small values make the fault tests' work span
    # many batches; the default suits production.
    search_sync_batch_size: int = Field(default=500, ge=1, le=100_000)

    @field_validator("redis_url", "rabbitmq_url", "elasticsearch_url")
    @classmethod
    def _empty_is_unset(cls, url: str | None) -> str | None:
        return None if url == "" else url

    # Access control (see docs/operations.md). Catalogue reads need a viewer key when set.
    catalogue_reads_need_key: bool = False
    # A token a Prometheus scraper may send as `Authorization: Bearer <token>` on /metrics,
    # instead of a viewer key.
    metrics_token: str | None = None
    # Dashboard sessions: how long a login lasts; cookies are Secure when the request came
    # over HTTPS (directly, or as a trusted proxy's X-Forwarded-Proto says).
    session_ttl_h: float = Field(default=12.0, gt=0)
    # Login attempts per client address per minute, per process.
    login_attempts_per_min: int = Field(default=10, ge=1)

    # Inventory monitoring: stock <= these is critical / low (0 is out of stock).
    inventory_critical_max: int = Field(default=5, ge=0)
    inventory_low_max: int = Field(default=10, ge=0)
    inventory_sweep_batch: int = Field(default=5000, ge=1)
    # Where critical and out-of-stock alerts go besides the log: a JSON POST, and e-mail.
    alert_webhook_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "catalog@localhost"
    alert_email_to: list[str] = []
    # Stock-out forecast: alert when a product is predicted to run out within this many days.
    stockout_alert_days: int = Field(default=7, ge=1)

    @field_validator("inventory_low_max")
    @classmethod
    def _low_above_critical(cls, low: int, info: ValidationInfo) -> int:
        critical = info.data.get("inventory_critical_max")
        if critical is not None and low < critical:
            raise ValueError("must be at least inventory_critical_max")
        return low
