"""The api's settings: one pydantic-settings class, env prefix ``PREDLOG_API_``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_serializer, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from predlog.settings import PredlogSettings, shared

UNLOGGED_PATHS = frozenset(
    {
        "/health",
        "/health/all",
        "/stats",
        "/metrics",
        "/v2/health/live",
        "/v2/health/ready",
        "/elb-healthcheck",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
    }
)
"""Operational paths that get an X-Job-Id but no log record (probes and scrapes would flood it)."""


class ApiSettings(PredlogSettings):
    """Settings of the inference service (``PREDLOG_API_*`` and the shared ``PREDLOG_*``)."""

    model_config = SettingsConfigDict(env_prefix="PREDLOG_API_", frozen=True)

    host: str = "127.0.0.1"
    """Address uvicorn binds."""
    port: int = Field(default=8000, ge=0, le=65535)
    """HTTP port of the api."""
    admin_port: int | None = Field(default=None, ge=1, le=65535)
    """Serve the admin API (/admin) on this port only, beside --port (unset: on --port)."""
    workers: int = Field(default=1, ge=1)
    """uvicorn worker processes of the api (each loads every model)."""
    models_dir: Path = Field(
        default=Path("var/models"), validation_alias=shared("MODELS_DIR", "API")
    )
    """Model bundles, laid out <name>/<version>/manifest.json."""
    forward: str = Field(default="127.0.0.1:24224", validation_alias=shared("FORWARD", "API"))
    """HOST:PORT of the forward-protocol receiver (the sidecar) that gets the log records."""
    spool_dir: Path = Field(default=Path("var/spool"), validation_alias=shared("SPOOL_DIR", "API"))
    """Spool root: records that cannot be sent go to <spool>/api/."""
    weights: Annotated[dict[str, float], NoDecode] = Field(default_factory=dict)
    """Traffic split by version, e.g. "1=0.5,2=0.5" (default: equal)."""
    max_rows: int = Field(default=64, ge=1)
    """Most rows per /predict or /predict/label request."""
    max_batch_rows: int = Field(default=1000, ge=1)
    """Most rows per /predict/batch request."""
    max_body_bytes: int = Field(default=1_048_576, ge=64)
    """Largest request body in bytes; larger gets 413."""
    queue_size: int = Field(default=10_000, ge=1)
    """Records queued for sending, per worker, before new ones go to the spool."""
    emit_timeout: float = Field(default=1.0, gt=0)
    """Socket timeout of the fluent sender, in seconds."""
    retry_interval: float = Field(default=1.0, ge=0)
    """Seconds after a failed send during which records go to the spool without a retry."""
    forward_acks: bool = True
    """Ask the receiver to ack each write (forward protocol chunk); off for one that cannot."""
    shutdown_drain: float = Field(default=3.0, ge=0, le=60)
    """Seconds a worker goes on answering after SIGTERM (Connection: close, /health 503)."""
    seed: int | None = None
    """Seed of the weighted version choice, for reproducible tests."""
    sticky_header: str | None = None
    """Route requests by this header's value (e.g. x-request-id): one value, one version."""
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    """Server log level (the access log is off)."""
    store_url: str | None = Field(default=None, validation_alias=shared("STORE_URL", "API"))
    """Store holding the model registry (hot updates, admin API); unset: serve models_dir."""
    bundle_cache: Path = Path("var/bundles")
    """Where a worker unpacks the registry's bundles before it loads them."""
    registry_poll: float = Field(default=1.0, gt=0)
    """Seconds between a worker's reads of the registry's generation."""
    store_wait: float = Field(default=60.0, ge=0)
    """Seconds to wait at start for the registry's tables (the sidecar creates them)."""
    max_versions: int = Field(default=6, ge=1)
    """Most versions of one model online (deploying, serving or shadow)."""
    max_bundle_bytes: int = Field(default=256 << 20, ge=1024)
    """Largest bundle upload, in bytes (packed and unpacked)."""
    shadow_queue: int = Field(default=1000, ge=1)
    """Most request copies waiting for shadow versions; a copy beyond is dropped and counted."""
    upstream_timeout: float = Field(default=2.0, gt=0, le=300)
    """Seconds a remote version's upstream may take to answer before the caller gets 504."""
    upstream_probe: float = Field(default=1.0, gt=0, le=60)
    """Seconds between health probes of each of a remote version's endpoints."""

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

    @field_serializer("weights", when_used="json")
    def _weights_text(self, value: dict[str, float]) -> str:
        return ",".join(f"{version}={weight}" for version, weight in value.items())

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
