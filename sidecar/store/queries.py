"""Reads of the prediction log used by ``predlog query``: jobs, searches, and lost records."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Select, func, select

from sidecar.record import PredictionRecord
from sidecar.store.mapping import record_from_row
from sidecar.store.schema import predictions, streams

_STATUS = re.compile(r"^(?:([1-5])xx|([1-5]\d\d))$", re.IGNORECASE)


@dataclass(frozen=True)
class StoredPrediction:
    """A stored request: the record as received, and when the store committed it."""

    record: PredictionRecord
    stored_at: datetime


@dataclass(frozen=True)
class StreamGaps:
    """Loss accounting of one api process run (host, pid, run_id), from its sequence numbers."""

    host: str
    pid: int
    run_id: str
    """The run's id ('' for records sent without one)."""
    max_seq: int
    received: int
    first_seen: datetime
    last_seen: datetime
    missing_ranges: tuple[tuple[int, int], ...]
    """Inclusive (first, last) runs of missing seqs, lowest first, at most ``max_ranges``."""
    truncated: bool
    """Whether more runs are missing than ``missing_ranges`` lists."""

    @property
    def missing(self) -> int:
        """Records lost: sequence numbers up to max_seq that never arrived."""
        return self.max_seq - self.received

    def missing_seqs(self, limit: int = 1000) -> list[int]:
        """The missing sequence numbers listed by ``missing_ranges``, at most ``limit``."""
        seqs: list[int] = []
        for first, last in self.missing_ranges:
            seqs.extend(range(first, min(last, first + limit - len(seqs) - 1) + 1))
            if len(seqs) >= limit:
                break
        return seqs


def parse_status(spec: str) -> tuple[int, int]:
    """The inclusive status range of "2xx"/"4xx"/"5xx" (any class) or of an exact code."""
    match = _STATUS.match(spec.strip())
    if match is None:
        raise ValueError(f"status must be a class like 4xx or a code like 404, not {spec!r}")
    if match.group(1):
        low = int(match.group(1)) * 100
        return low, low + 99
    code = int(match.group(2))
    return code, code


def _stored(row: Any) -> StoredPrediction:
    mapping = row._mapping
    return StoredPrediction(record=record_from_row(mapping), stored_at=mapping["stored_at"])


def job_query(job_id: str) -> Select[Any]:
    """The SELECT of the stored row with ``job_id`` (every column)."""
    return select(predictions).where(predictions.c.job_id == job_id)


def request_id_query(request_id: str, limit: int = 100) -> Select[Any]:
    """The SELECT of the stored rows that carried ``request_id`` (every column), newest first."""
    return (
        select(predictions)
        .where(predictions.c.request_id == request_id)
        .order_by(predictions.c.event_time.desc(), predictions.c.id.desc())
        .limit(limit)
    )


def get_job(engine: Engine, job_id: str) -> StoredPrediction | None:
    """The stored request with ``job_id``, or None."""
    with engine.connect() as conn:
        row = conn.execute(job_query(job_id)).first()
    return None if row is None else _stored(row)


def find_by_request_id(engine: Engine, request_id: str, limit: int = 100) -> list[StoredPrediction]:
    """The stored requests that carried the caller's ``request_id``, newest first."""
    with engine.connect() as conn:
        return [_stored(row) for row in conn.execute(request_id_query(request_id, limit))]


def search_query(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    model: str | None = None,
    version: str | None = None,
    endpoint: str | None = None,
    outliers_only: bool = False,
    status: str | None = None,
    limit: int = 100,
) -> Select[Any]:
    """The SELECT behind ``search`` (newest first), for callers that want the SQL."""
    query = select(predictions)
    if since is not None:
        query = query.where(predictions.c.event_time >= since)
    if until is not None:
        query = query.where(predictions.c.event_time < until)
    if model is not None:
        query = query.where(predictions.c.model == model)
    if version is not None:
        query = query.where(predictions.c.version == version)
    if endpoint is not None:
        query = query.where(predictions.c.endpoint == endpoint)
    if outliers_only:
        # The bare column, not "IS true": the partial index holds "WHERE is_outlier".
        query = query.where(predictions.c.is_outlier)
    if status is not None:
        low, high = parse_status(status)
        query = query.where(predictions.c.status.between(low, high))
    order = (predictions.c.event_time.desc(), predictions.c.id.desc())
    return query.order_by(*order).limit(limit)


def search(
    engine: Engine,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    model: str | None = None,
    version: str | None = None,
    endpoint: str | None = None,
    outliers_only: bool = False,
    status: str | None = None,
    limit: int = 100,
) -> list[StoredPrediction]:
    """Stored requests in [since, until) matching every filter given, newest first.

    ``status`` is a class ("2xx", "4xx", "5xx") or an exact code ("404").
    """
    query = search_query(
        since=since,
        until=until,
        model=model,
        version=version,
        endpoint=endpoint,
        outliers_only=outliers_only,
        status=status,
        limit=limit,
    )
    with engine.connect() as conn:
        return [_stored(row) for row in conn.execute(query)]


def _missing_runs(host: str, pid: int, run_id: str, max_ranges: int) -> Select[Any]:
    # LAG over the (host, pid, run_id, seq) index: a step of more than one between
    # neighbours is a run of lost records; the first seq is compared with 0, so a lost
    # seq 1 shows too.
    previous = func.lag(predictions.c.seq, 1, 0).over(order_by=predictions.c.seq)
    run = predictions.c.run_id.is_(None) if run_id == "" else predictions.c.run_id == run_id
    steps = (
        select(predictions.c.seq.label("seq"), previous.label("prev"))
        .where(predictions.c.host == host, predictions.c.pid == pid, run)
        .subquery()
    )
    return (
        select((steps.c.prev + 1).label("first"), (steps.c.seq - 1).label("last"))
        .where(steps.c.seq - steps.c.prev > 1)
        .order_by(steps.c.seq)
        .limit(max_ranges + 1)
    )


def _missing_tail(
    conn: Connection, host: str, pid: int, run_id: str, max_seq: int
) -> list[tuple[int, int]]:
    # Above the highest seq stored, up to max_seq: the tail of a run whose last seq was
    # stored on its end (sidecar.store.runends), e.g. records a killed process never sent.
    run = predictions.c.run_id.is_(None) if run_id == "" else predictions.c.run_id == run_id
    highest = conn.execute(
        select(func.max(predictions.c.seq)).where(
            predictions.c.host == host, predictions.c.pid == pid, run
        )
    ).scalar_one()
    top = int(highest or 0)
    return [(top + 1, int(max_seq))] if top < max_seq else []


def gaps(engine: Engine, *, max_ranges: int = 100) -> list[StreamGaps]:
    """Per api process: highest seq, records received, and the runs of missing seqs."""
    result: list[StreamGaps] = []
    with engine.connect() as conn:
        order = (streams.c.host, streams.c.pid, streams.c.first_seen, streams.c.run_id)
        for row in conn.execute(select(streams).order_by(*order)).all():
            runs: list[tuple[int, int]] = []
            if row.max_seq > row.received:
                query = _missing_runs(row.host, row.pid, row.run_id, max_ranges)
                runs = [(int(first), int(last)) for first, last in conn.execute(query)]
                if len(runs) <= max_ranges:
                    runs += _missing_tail(conn, row.host, row.pid, row.run_id, row.max_seq)
            result.append(
                StreamGaps(
                    host=row.host,
                    pid=row.pid,
                    run_id=row.run_id,
                    max_seq=int(row.max_seq),
                    received=int(row.received),
                    first_seen=row.first_seen,
                    last_seen=row.last_seen,
                    missing_ranges=tuple(runs[:max_ranges]),
                    truncated=len(runs) > max_ranges,
                )
            )
    return result


def missing_total(engine: Engine) -> int:
    """Records missing over every api process (cheap: one row per process)."""
    query = select(func.coalesce(func.sum(streams.c.max_seq - streams.c.received), 0))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
