"""Where an api process run ended: its last seq becomes the run's ``max_seq`` in ``streams``.

``streams.max_seq`` is otherwise the highest seq stored, so a run that ends early (killed
with records still queued) would leave its lost tail above it, uncounted. Storing the last
seq the run handed out (``sidecar.ingest.runends`` reads it) makes ``max_seq - received``
every record of the run that never arrived. Idempotent: ``max_seq`` only grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine, func
from sqlalchemy.dialects import postgresql, sqlite

from sidecar.store.schema import streams

RunEndRow = tuple[str, int, str, int]
"""(host, pid, run_id, last_seq) of an ended run."""


def store_run_ends(engine: Engine, ends: Sequence[RunEndRow]) -> int:
    """Raise each run's ``max_seq`` to its last seq, in one transaction; the runs written.

    A run with no stored record yet gets its row now (received 0, first and last seen
    now); its records that arrive later count as received as usual. Runs that handed out
    no seq are skipped. Raises sqlalchemy's errors when the store is unreachable."""
    rows = [
        {"host": host, "pid": pid, "run_id": run_id, "max_seq": seq}
        for host, pid, run_id, seq in ends
        if seq > 0
    ]
    if not rows:
        return 0
    now = datetime.now(UTC)
    for row in rows:
        row.update(received=0, first_seen=now, last_seen=now)
    postgres = engine.dialect.name == "postgresql"
    stmt = (postgresql.insert if postgres else sqlite.insert)(streams)
    greatest = func.greatest if postgres else func.max
    upsert = stmt.on_conflict_do_update(
        index_elements=["host", "pid", "run_id"],
        set_={"max_seq": greatest(streams.c.max_seq, stmt.excluded.max_seq)},
    )
    with engine.begin() as conn:
        conn.execute(upsert, rows)
    return len(rows)
