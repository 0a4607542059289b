"""Settings from the environment (prefix AUTORESOLVE_), read once per process at start-up.

Paths default to the working directory (`./var`, `./data/crm`), never to the installed package's
own folder: an installed autoresolve keeps its state where it is run.

Unsafe defaults (no API keys, the SQLite file store) are fine on a laptop and refused elsewhere:
outside `AUTORESOLVE_ENV=development` a deployment must say which keys protect its write endpoints.

The API keys are a secret (`SecretStr`): a Settings object prints them as `**********` in its
repr, its str and its JSON dump; the URLs that may hold a password stay out of its repr.
Every field's description is its line in docs/configuration.md (`autoresolve config reference`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(ValueError):
    """A setting that is missing or unsafe for the environment it runs in."""


class Settings(BaseSettings):
    # hide_input_in_errors: a refusal would otherwise quote every input, the API keys included
    model_config = SettingsConfigDict(
        env_prefix="AUTORESOLVE_", extra="ignore", hide_input_in_errors=True
    )

    env: Literal["development", "test", "production"] = Field(
        default="production",
        description="`production` refuses unsafe settings; `development` allows them (no API "
        "keys, for a laptop); `test` is for test suites",
    )
    home: Path = Field(
        default=Path("var"),
        description="state folder: store, MLflow, artifacts (relative to the working directory)",
    )
    domain: Path = Field(
        default=Path("data/crm"),
        description="the domain folder served (relative to the working directory)",
    )
    database_url: str | None = Field(
        default=None,
        repr=False,
        description="decision store (SQLAlchemy URL); default: SQLite `autoresolve.db` in home",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None,
        repr=False,
        description="MLflow tracking/registry URI; else MLFLOW_TRACKING_URI, else SQLite in home",
    )
    api_keys: SecretStr = Field(
        default=SecretStr(""),
        description="comma-separated keys for write/admin endpoints, sent in X-API-Key (secret)",
    )
    max_body_bytes: int = Field(
        default=1_000_000, ge=1_000, description="largest request body, in bytes (413 beyond)"
    )
    max_record_bytes: int = Field(
        default=64_000,
        ge=1_000,
        description="largest body of the one-record endpoints (POST /v1/resolve)",
    )
    body_timeout_s: float = Field(
        default=10.0,
        ge=0.0,
        description="a request body not received within this time is answered 408 (0: never)",
    )
    max_connections: int = Field(
        default=1_000,
        ge=1,
        description="connections and requests a worker holds at once; beyond: 503 (uvicorn's "
        "limit_concurrency)",
    )
    max_batch_records: int = Field(default=10_000, ge=1, description="records per batch call")
    max_text_chars: int = Field(default=10_000, ge=1, description="longest string field value")
    reload_interval_s: float = Field(
        default=10.0, ge=0.0, description="seconds between checks for a new @champion; 0: never"
    )
    resolve_requires_key: bool | None = Field(
        default=None,
        description="demand X-API-Key on the resolve endpoints too (they write the decision "
        "log); default: yes, except in development",
    )
    store_busy_timeout_ms: int = Field(
        default=5_000, ge=0, description="how long a write waits for a locked store before 503"
    )
    commit_timeout_s: float = Field(
        default=10.0,
        ge=0.0,
        description="longest wait for the store to confirm a decision's commit before 503 "
        "(0: no deadline); a commit running longer makes /readyz not ready",
    )
    group_commit: bool = Field(
        default=True, description="concurrent requests share store commits (one writer per worker)"
    )
    threadpool_size: int = Field(
        default=40, ge=1, le=1000, description="requests scored at once per worker (FIFO beyond)"
    )
    audit_share: float = Field(
        default=0.03,
        ge=0.0,
        le=1.0,
        description="share of automatic decisions sampled for audit (0 turns audits off; the "
        "precision guard then sees no evidence)",
    )
    audit_seed: int = Field(default=0, description="seed of the audit sample (a hash of the id)")
    guard_poll_ms: int = Field(
        default=1_000,
        ge=10,
        description="how often a worker checks the store for another worker's guard change",
    )
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        default="NORMAL",
        description="NORMAL (WAL): durable across a process crash, not a power cut; FULL: both",
    )

    @field_validator("home", "domain", mode="after")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        if self.env != "development" and not self.keys:
            raise SettingsError(
                "AUTORESOLVE_API_KEYS is empty: write and admin endpoints would be open. "
                "Set AUTORESOLVE_API_KEYS=key1,key2 (or AUTORESOLVE_ENV=development on a laptop)."
            )
        if self.resolve_requires_key is None:
            self.resolve_requires_key = self.env != "development"
        if self.env != "development" and any(len(k) < 16 for k in self.keys):
            raise SettingsError(
                "an API key in AUTORESOLVE_API_KEYS is shorter than 16 characters; "
                "use long random keys outside development (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`)."
            )
        return self

    @property
    def keys(self) -> tuple[str, ...]:
        """The configured keys; the only way to read the secret."""
        return tuple(k.strip() for k in self.api_keys.get_secret_value().split(",") if k.strip())

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'autoresolve.db'}"

    @property
    def tracking_uri(self) -> str:
        """Explicit setting, else MLFLOW_TRACKING_URI, else the embedded SQLite store under home."""
        return (
            self.mlflow_tracking_uri
            or os.environ.get("MLFLOW_TRACKING_URI")
            or f"sqlite:///{self.home / 'mlflow.db'}"
        )

    @property
    def artifact_root(self) -> Path:
        return self.home / "mlartifacts"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (CLI flags) winning."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)
