"""The sidecar's settings: one pydantic-settings class, env prefix ``PREDLOG_SIDECAR_``."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from sidecar.store.engine import DEFAULT_STORE_URL


class SidecarSettings(BaseSettings):
    """How the sidecar listens, where it spools and which store it writes to."""

    model_config = SettingsConfigDict(env_prefix="PREDLOG_SIDECAR_", extra="ignore")

    host: str = "127.0.0.1"
    """Address the forward-protocol listener binds."""
    port: int = Field(default=24224, ge=0, le=65535)
    """Forward-protocol TCP port (0 picks a free one)."""
    http_port: int = Field(default=24225, ge=0, le=65535)
    """Port of /healthz and /metrics (0 picks a free one)."""
    store_url: str = Field(
        default=DEFAULT_STORE_URL,
        validation_alias=AliasChoices("store_url", "PREDLOG_STORE_URL"),
    )
    """SQLAlchemy URL of the log store (PREDLOG_STORE_URL)."""
    spool_dir: Path = Field(
        default=Path("var/spool"),
        validation_alias=AliasChoices("spool_dir", "PREDLOG_SPOOL_DIR"),
    )
    """Spool root (PREDLOG_SPOOL_DIR): the sidecar's segments in sidecar/, the api's in api/."""
    shared_key: str | None = None
    """When set, clients must pass the forward protocol's shared-key handshake."""
    self_hostname: str = "predlog-sidecar"
    """Host name the sidecar announces in the handshake's PONG."""
    migrate: bool = False
    """Run the store's migrations at start (normally `predlog db upgrade` does it)."""
    batch_records: int = Field(default=1000, ge=1)
    """A store write happens when this many records are spooled..."""
    batch_interval: float = Field(default=0.2, gt=0)
    """...or when the oldest unwritten record has waited this many seconds."""
    batch_max_records: int = Field(default=5000, ge=1)
    """Under load, one store write takes up to this many already spooled records."""
    writer_process: bool = True
    """Run the writer loop in a process of its own (two cores); False: a thread."""
    spool_max_bytes: int = Field(default=1 << 30, ge=1 << 16)
    """Spool size cap: when reached, the sidecar stops reading from its sockets."""
    segment_bytes: int = Field(default=16 << 20, ge=1 << 12)
    """Size at which a spool segment file is closed and a new one started."""
    max_entry_bytes: int = Field(default=16 << 20, ge=1 << 10)
    """Largest forward-protocol message (and decompressed chunk) accepted."""
    read_coalesce: float = Field(default=0.005, ge=0, le=0.1)
    """After a small read, a connection waits this many seconds before reading again, so
    that under load one read takes many records (0: read as soon as data arrives)."""
    fsync_interval: float = Field(default=1.0, gt=0)
    """Unacknowledged data is fsynced at least this often; acked chunks before the ack."""
    retry_max_delay: float = Field(default=5.0, gt=0)
    """Cap of the exponential backoff while the store is unreachable."""
    drain_timeout: float = Field(default=30.0, ge=0)
    """On SIGTERM, how long to keep writing the spool into the store before exiting."""
    api_spool_interval: float = Field(default=0.5, gt=0)
    """How often the api's spool directory is scanned."""
    stale_part_seconds: float = Field(default=60.0, ge=0)
    """An api *.part file untouched this long was left by a crashed api and is ingested."""
    gaps_interval: float = Field(default=10.0, gt=0)
    """How often the missing-records metric is read from the store's streams table."""
