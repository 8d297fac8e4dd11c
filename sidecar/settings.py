"""The sidecar's settings: one pydantic-settings class, env prefix ``PREDLOG_SIDECAR_``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator
from pydantic_settings import SettingsConfigDict

from predlog.settings import PredlogSettings, shared
from predlog.timespec import parse_duration
from sidecar.onward.address import parse_address
from sidecar.store.engine import DEFAULT_STORE_URL
from sidecar.store.sampling import parse_fractions

Seconds = Annotated[float, BeforeValidator(parse_duration)]
"""A duration in seconds, also given as text: 90s, 10m, 2h, 30d."""


class SidecarSettings(PredlogSettings):
    """How the sidecar listens, where it spools and which store it writes to."""

    model_config = SettingsConfigDict(env_prefix="PREDLOG_SIDECAR_")

    host: str = "127.0.0.1"
    """Address the forward-protocol listener binds."""
    port: int = Field(default=24224, ge=0, le=65535)
    """Forward-protocol TCP port of the sidecar (0 picks a free one)."""
    http_port: int = Field(default=24225, ge=0, le=65535)
    """Port of the sidecar's /healthz and /metrics (0 picks a free one)."""
    http_host: str = "127.0.0.1"
    """Address /healthz and /metrics bind (0.0.0.0: Prometheus may scrape them; the pod's)."""
    store_url: str = Field(
        default=DEFAULT_STORE_URL, validation_alias=shared("STORE_URL", "SIDECAR")
    )
    """SQLAlchemy URL of the log store (sqlite:///path or postgresql+psycopg://...)."""
    spool_dir: Path = Field(
        default=Path("var/spool"), validation_alias=shared("SPOOL_DIR", "SIDECAR")
    )
    """Spool root: the sidecar's segments in <spool>/sidecar/, the api's in <spool>/api/."""
    shared_key: str | None = None
    """Require the forward protocol's shared-key handshake with this key."""
    self_hostname: str = "predlog-sidecar"
    """Host name the sidecar announces in the handshake's PONG."""
    migrate: bool = False
    """Run the store's migrations at start (normally `predlog db upgrade` does it)."""
    batch_records: int = Field(default=1000, ge=1)
    """A store write starts once this many records are spooled (or batch-interval passed)."""
    batch_interval: float = Field(default=0.2, gt=0)
    """Seconds a record waits for its batch to fill, at most."""
    batch_max_records: int = Field(default=5000, ge=1)
    """Records per store write when the spool is behind (larger batches catch up faster)."""
    writer_process: bool = True
    """Write to the store from a process of its own, so receiving and writing use two cores."""
    spool_max_bytes: int = Field(default=1 << 30, ge=1 << 16)
    """Spool size cap in bytes: when reached, the sidecar stops reading its sockets."""
    segment_bytes: int = Field(default=16 << 20, ge=1 << 12)
    """Size in bytes at which a spool segment file is closed and a new one started."""
    max_entry_bytes: int = Field(default=16 << 20, ge=1 << 10)
    """Largest forward-protocol message (and decompressed chunk) accepted, in bytes."""
    read_coalesce: float = Field(default=0.005, ge=0, le=0.1)
    """Seconds a connection waits after a small read, so one read takes many (0: no wait)."""
    fsync_interval: float = Field(default=1.0, gt=0)
    """Seconds between fsyncs of unacknowledged data (acked chunks are synced before the ack)."""
    retry_max_delay: float = Field(default=5.0, gt=0)
    """Cap in seconds of the exponential backoff while the store is unreachable."""
    drain_timeout: float = Field(default=30.0, ge=0)
    """On SIGTERM, seconds to keep writing the spool into the store before exiting."""
    api_spool_interval: float = Field(default=0.5, gt=0)
    """Seconds between scans of the api's spool directory."""
    stale_part_seconds: float = Field(default=60.0, ge=0)
    """A .part file of the api's spool untouched this many seconds is a crashed api's: ingest it."""
    gaps_interval: float = Field(default=10.0, gt=0)
    """Seconds between reads of the missing-records metric from the store's streams table."""
    histograms: bool = True
    """Keep per-minute per-feature histograms of the inputs and predictions (the Drift page)."""
    models_dir: Path = Field(
        default=Path("var/models"), validation_alias=shared("MODELS_DIR", "SIDECAR")
    )
    """Model bundles whose manifests give a version's histogram bins when the registry has none."""
    alert_window: float = Field(default=900.0, ge=60)
    """Seconds of recent traffic the alert metrics (outlier rate, drift, accuracy) cover."""
    alert_interval: float = Field(default=30.0, gt=0)
    """Seconds between reads of the alert metrics from the store's rollups."""
    retention: Seconds | None = Field(default=None, gt=0)
    """Keep predictions and dead letters this long (e.g. 30d; whole UTC days); unset: forever."""
    rollup_retention: Seconds | None = Field(default=None, gt=0)
    """Keep rollups and streams this long (e.g. 400d; whole UTC days); unset: forever."""
    maintenance_interval: Seconds = Field(default=3600.0, gt=0)
    """Seconds between the store's upkeep: partitions made ahead, retention applied."""
    partitions_ahead: int = Field(default=3, ge=1, le=60)
    """Daily partitions of predictions kept made ahead of today (PostgreSQL)."""
    prune_batch_rows: int = Field(default=2000, ge=1)
    """Rows one pruning DELETE takes (each its own short transaction)."""
    payload_sampling: str = ""
    """Share of requests per model whose inputs are stored, e.g. iris=0.1,*=1 (all keep a row)."""
    forward_to: str | None = None
    """Also forward every record to this Fluentd/Fluent Bit aggregator (host:port)."""
    forward_require_ack: bool = True
    """Wait for the aggregator's ack of each chunk; off: a chunk sent and closed counts."""
    forward_chunk_records: int = Field(default=1000, ge=1)
    """Records per chunk sent to the aggregator, at most."""
    forward_timeout: Seconds = Field(default=10.0, gt=0)
    """Seconds to connect, send a chunk and get its ack before the aggregator counts as down."""

    @field_validator("payload_sampling")
    @classmethod
    def _fractions(cls, value: str) -> str:
        parse_fractions(value)
        return value

    @field_validator("forward_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value:
            parse_address(value)
        return value or None
