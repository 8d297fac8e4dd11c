"""Whether the store can be shown, what the filters offer, what the store knows it lost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, case, exists, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from dashboard.formatting import error_text
from dashboard.queries.rollup import rollup_filter
from dashboard.window import Filters, Window
from sidecar.store.schema import dead_letters, rollups, streams

StoreState = Literal["ok", "unreachable", "no_schema", "empty"]


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """Whether the store can be shown, and if not, why."""

    state: StoreState
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Integrity:
    """What the store knows it lost: dead letters in the window, sequence gaps."""

    dead_letters: int
    lost_records: int


@dataclass(frozen=True, slots=True)
class Choices:
    """What the filters can offer for a window."""

    versions: tuple[tuple[str, str], ...]
    """(model, version) pairs seen, sorted; '' for requests that reached no model."""
    statuses: tuple[int, ...]
    """HTTP statuses seen, sorted."""

    @property
    def models(self) -> list[str]:
        """Model names seen, sorted."""
        return sorted({model for model, _ in self.versions})

    def versions_of(self, model: str) -> list[str]:
        """Versions of ``model`` seen, sorted."""
        return [version for name, version in self.versions if name == model]


def store_status(engine: Engine) -> StoreStatus:
    """Connect and check that the schema exists and holds at least one request."""
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            missing = {"predictions", "rollups"} - tables
            if missing:
                return StoreStatus("no_schema", f"missing tables: {', '.join(sorted(missing))}")
            if not conn.execute(select(exists(select(rollups.c.minute)))).scalar():
                return StoreStatus("empty")
    except SQLAlchemyError as error:
        return StoreStatus("unreachable", error_text(error))
    return StoreStatus("ok")


def choices(engine: Engine, window: Window) -> Choices:
    """The model versions and statuses seen in the window, for the filters."""
    query = rollup_filter(
        select(rollups.c.model, rollups.c.version, rollups.c.status).distinct(),
        window,
        Filters(),
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    pairs = tuple(sorted({(row.model, row.version) for row in rows}))
    return Choices(pairs, tuple(sorted({int(row.status) for row in rows})))


def integrity(engine: Engine, window: Window) -> Integrity:
    """Dead letters received in the window and records missing from streams active in it."""
    letters = select(func.count()).where(
        dead_letters.c.received_at >= window.start, dead_letters.c.received_at < window.end
    )
    gap = streams.c.max_seq - streams.c.received
    lost = select(func.coalesce(func.sum(case((gap > 0, gap), else_=0)), 0)).where(
        streams.c.last_seen >= window.start, streams.c.first_seen < window.end
    )
    with engine.connect() as conn:
        return Integrity(
            dead_letters=int(conn.execute(letters).scalar_one()),
            lost_records=int(conn.execute(lost).scalar_one()),
        )
