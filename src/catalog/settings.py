"""Runtime configuration, read once at start-up from `CATALOG_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PostgresDsn
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service; build one with `Settings()` in an entry point, never at import."""

    model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore")

    # Where things run.
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    data_dir: Path = Path(".catalog")
    log_level: str = "INFO"

    # Backends; unset means the embedded default.
    database_url: PostgresDsn | None = None
    redis_url: str | None = None
    rabbitmq_url: str | None = None
    elasticsearch_url: str | None = None

    # Demo catalogue loaded on the first start of `catalog serve`.
    demo_data: bool = True
    demo_products: int = Field(default=2000, ge=0)

    # API limits.
    page_size_default: int = Field(default=50, ge=1)
    page_size_max: int = Field(default=200, ge=1)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)

    # Database pool.
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
