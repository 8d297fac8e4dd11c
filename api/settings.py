"""The api's settings: one pydantic-settings class, env prefix ``PREDLOG_``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

UNLOGGED_PATHS = frozenset(
    {"/health", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)
"""Operational paths that get an X-Job-Id but no log record (probes and scrapes would flood it)."""


def _env(name: str) -> AliasChoices:
    """Accept both the shared name (PREDLOG_X) and the service-scoped one (PREDLOG_API_X)."""
    return AliasChoices(f"PREDLOG_{name}", f"PREDLOG_API_{name}")


class ApiSettings(BaseSettings):
    """Settings of the inference service (``PREDLOG_API_*`` and the shared ``PREDLOG_*``)."""

    model_config = SettingsConfigDict(
        env_prefix="PREDLOG_API_", extra="ignore", populate_by_name=True, frozen=True
    )

    host: str = "127.0.0.1"
    """Interface uvicorn binds (PREDLOG_API_HOST)."""
    port: int = Field(default=8000, ge=0, le=65535)
    """TCP port uvicorn binds (PREDLOG_API_PORT)."""
    workers: int = Field(default=1, ge=1)
    """Number of uvicorn worker processes (PREDLOG_API_WORKERS)."""
    models_dir: Path = Field(default=Path("var/models"), validation_alias=_env("MODELS_DIR"))
    """Root of the model bundles, laid out <name>/<version>/manifest.json (PREDLOG_MODELS_DIR)."""
    forward: str = Field(default="127.0.0.1:24224", validation_alias=_env("FORWARD"))
    """HOST:PORT of the Fluentd forward-protocol receiver (the sidecar) (PREDLOG_FORWARD)."""
    spool_dir: Path = Field(default=Path("var/spool"), validation_alias=_env("SPOOL_DIR"))
    """Spool root; records that cannot be sent go to <spool_dir>/api/ (PREDLOG_SPOOL_DIR)."""
    weights: Annotated[dict[str, float], NoDecode] = Field(default_factory=dict)
    """Traffic split by version, e.g. "1=0.5,2=0.5"; empty means equal (PREDLOG_API_WEIGHTS)."""
    max_rows: int = Field(default=64, ge=1)
    """Most rows accepted by /predict and /predict/label (PREDLOG_API_MAX_ROWS)."""
    max_batch_rows: int = Field(default=1000, ge=1)
    """Most rows accepted by /predict/batch (PREDLOG_API_MAX_BATCH_ROWS)."""
    max_body_bytes: int = Field(default=1_048_576, ge=64)
    """Largest request body accepted, in bytes; larger gets 413 (PREDLOG_API_MAX_BODY_BYTES)."""
    queue_size: int = Field(default=10_000, ge=1)
    """Records queued for sending before new ones go to the spool (PREDLOG_API_QUEUE_SIZE)."""
    emit_timeout: float = Field(default=1.0, gt=0)
    """Socket timeout of the fluent sender, in seconds (PREDLOG_API_EMIT_TIMEOUT)."""
    retry_interval: float = Field(default=1.0, ge=0)
    """After a failed send, seconds during which records go to the spool without retrying
    (PREDLOG_API_RETRY_INTERVAL)."""
    seed: int | None = None
    """Seed of the weighted version choice, for reproducible tests (PREDLOG_API_SEED)."""

    @field_validator("weights", mode="before")
    @classmethod
    def _parse_weights(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        weights: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            version, sep, weight = item.partition("=")
            if not sep:
                raise ValueError(f"weight {item!r} is not VERSION=WEIGHT")
            weights[version.strip()] = float(weight)
        return weights

    @field_validator("weights")
    @classmethod
    def _check_weights(cls, value: dict[str, float]) -> dict[str, float]:
        if any(w < 0 for w in value.values()):
            raise ValueError("weights must not be negative")
        if value and sum(value.values()) <= 0:
            raise ValueError("weights must not all be zero")
        return value

    @field_validator("forward")
    @classmethod
    def _check_forward(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"forward {value!r} is not HOST:PORT")
        return value

    @property
    def forward_address(self) -> tuple[str, int]:
        """The forward target as (host, port)."""
        host, _, port = self.forward.rpartition(":")
        return host, int(port)

    def to_env(self) -> dict[str, str]:
        """These settings as environment variables, for worker processes that rebuild them."""
        env = {
            "PREDLOG_API_HOST": self.host,
            "PREDLOG_API_PORT": str(self.port),
            "PREDLOG_API_WORKERS": str(self.workers),
            "PREDLOG_MODELS_DIR": str(self.models_dir),
            "PREDLOG_FORWARD": self.forward,
            "PREDLOG_SPOOL_DIR": str(self.spool_dir),
            "PREDLOG_API_WEIGHTS": ",".join(f"{v}={w}" for v, w in self.weights.items()),
            "PREDLOG_API_MAX_ROWS": str(self.max_rows),
            "PREDLOG_API_MAX_BATCH_ROWS": str(self.max_batch_rows),
            "PREDLOG_API_MAX_BODY_BYTES": str(self.max_body_bytes),
            "PREDLOG_API_QUEUE_SIZE": str(self.queue_size),
            "PREDLOG_API_EMIT_TIMEOUT": str(self.emit_timeout),
            "PREDLOG_API_RETRY_INTERVAL": str(self.retry_interval),
        }
        if self.seed is not None:
            env["PREDLOG_API_SEED"] = str(self.seed)
        return env
