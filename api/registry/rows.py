"""The registry's rows as the api sees them, and the names it accepts."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from api.errors import InvalidInputError

if TYPE_CHECKING:
    from api.registry.guard import PredictGuard

State = Literal["deploying", "serving", "shadow", "failed", "retired"]
ONLINE: tuple[State, ...] = ("deploying", "serving", "shadow")
"""States that count towards a model's limit of versions online."""
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""A model or version name: letters, digits, '.', '_' and '-', up to 128, no leading dot."""


def check_name(kind: str, value: str) -> str:
    """``value`` if it is a safe model or version name; InvalidInputError saying why if not."""
    if not SAFE_NAME.fullmatch(value):
        raise InvalidInputError(
            f"{kind} {value[:140]!r} is not a safe name (letters, digits, '.', '_', '-'; "
            "at most 128; starting with a letter or digit)"
        )
    return value


def now() -> datetime:
    """The registry's clock (UTC)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class VersionRow:
    """One row of ``model_versions``."""

    model: str
    version: str
    state: State
    weight: float
    shadow_fraction: float
    manifest: str
    created_at: datetime
    created_by: str
    updated_at: datetime

    @property
    def digest(self) -> str:
        """sha256 of the manifest text: what identifies this version's bytes."""
        return hashlib.sha256(self.manifest.encode()).hexdigest()

    def summary(self) -> dict[str, Any]:
        """The row as the admin API shows it (the manifest left out)."""
        row = asdict(self)
        del row["manifest"]
        row["created_at"] = self.created_at.isoformat()
        row["updated_at"] = self.updated_at.isoformat()
        return row


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the registry says is online, at one generation."""

    generation: int
    versions: tuple[VersionRow, ...]
    guard: PredictGuard | None = None
    """The models whose predictions need a read key, and the keys (None: every model open)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """One api worker process run, as the deploy log and the workers table name it."""

    host: str
    pid: int
    run_id: str
