"""The fault suite's machinery: the load generator, the accounting after each scenario,
and the system under test put together from ``processes`` and ``stores``.

Every process binds 127.0.0.1 on a free port and is stopped at the end; every load is
bounded in count and time. ``Ledger.settle`` waits (bounded) until the store holds every
answered job_id or stops changing, then counts: sent, answered, stored, lost, duplicated,
and what the gap accounting (``predlog query --gaps``, the sidecar's metric) counts.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from client.rows import RowSampler
from client.runner import LoadRun, fetch_training
from client.settings import LoadSettings
from sidecar.store.engine import make_engine
from sidecar.store.queries import missing_total
from sidecar.store.schema import predictions
from tests.faults.processes import ROOT, Api, Sidecar, predlog_command, wait_until

RESULTS = ROOT / "test-output" / "faults" / "results.jsonl"
"""Every scenario's figures, one JSON line each (the README's tables are made from them)."""


# -- load and accounting --------------------------------------------------------------------


@dataclass
class Answers:
    """What the load generator saw: job_ids of answered requests, by status."""

    job_ids: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    failed_at: list[float] = field(default_factory=list)
    """When each request that got no answer failed, in seconds from the load's start."""


class Load:
    """``predlog load``'s open-loop sender (client.runner.LoadRun), in a thread of its own,
    noting the job_id of every answer (the X-Job-Id header)."""

    def __init__(self, url: str, rate: float, seconds: float, seed: int = 13) -> None:
        self.settings = LoadSettings(
            url=url, rate=rate, count=max(1, round(rate * seconds)), seed=seed, progress=False,
            timeout=15.0, concurrency_limit=500,
        )  # fmt: skip
        self.answers = Answers()
        self._thread = threading.Thread(target=self._run, name="faults-load", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> Load:
        self._thread.start()
        return self

    def join(self) -> Answers:
        # Bounded: the schedule's span plus the client's own timeout and a margin.
        self._thread.join(self.settings.total / self.settings.rate + 60)
        assert not self._thread.is_alive(), "the load did not finish"
        if self.error is not None:
            raise self.error
        return self.answers

    def _run(self) -> None:
        try:
            asyncio.run(self._load())
        except BaseException as exc:  # reported by join()
            self.error = exc

    async def _load(self) -> None:
        answers = self.answers
        path = self.settings.endpoint

        async def on_end(_s: Any, _c: Any, params: aiohttp.TraceRequestEndParams) -> None:
            if params.url.path != path:
                return
            status = params.response.status
            answers.statuses[status] = answers.statuses.get(status, 0) + 1
            job_id = params.response.headers.get("X-Job-Id")
            if job_id:
                answers.job_ids.append(job_id)

        started = time.monotonic()

        async def on_exception(
            _s: Any, _c: Any, params: aiohttp.TraceRequestExceptionParams
        ) -> None:
            if params.url.path == path:
                answers.failed_at.append(round(time.monotonic() - started, 3))

        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(on_end)
        trace.on_request_exception.append(on_exception)
        settings = self.settings
        connector = aiohttp.TCPConnector(limit=settings.concurrency_limit)
        timeout = aiohttp.ClientTimeout(total=settings.timeout)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, trace_configs=[trace]
        ) as session:
            training = await fetch_training(session, settings.url)
            sampler = RowSampler(
                training.stats, settings.outlier_fraction, settings.seed, training.sample
            )
            summary = await LoadRun(settings, session, sampler, None).run()
        answers.summary = summary.to_dict()


@dataclass
class Figures:
    """One scenario's row in the README."""

    scenario: str
    store: str
    sent: int
    answered: int
    stored: int
    lost: int
    duplicated: int
    counted: int
    """Records the gap accounting reports missing (``predlog query --gaps``)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> None:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        row = {**asdict(self), "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        with RESULTS.open("a") as fh:
            fh.write(json.dumps(row) + "\n")


class Ledger:
    """Counts a scenario's outcome from the store against what the load generator saw."""

    def __init__(self, store_url: str, sidecar: Sidecar | None) -> None:
        self.store_url = store_url
        self.sidecar = sidecar
        self.engine = make_engine(store_url)

    def stored_ids(self) -> dict[str, int]:
        """Every stored job_id with how many rows carry it."""
        query = select(predictions.c.job_id, func.count()).group_by(predictions.c.job_id)
        with self.engine.connect() as conn:
            return {job_id: int(n) for job_id, n in conn.execute(query)}

    def settle(self, job_ids: list[str], timeout: float = 90.0) -> dict[str, int]:
        """Wait until every answered job_id is stored, or the store stops changing (bounded)."""
        wanted = set(job_ids)
        deadline = time.monotonic() + timeout
        last, still = -1, time.monotonic()
        while True:
            try:
                stored = self.stored_ids()
            except Exception:  # the store may be coming back
                stored = {}
            if wanted <= stored.keys():
                return stored
            if len(stored) != last:
                last, still = len(stored), time.monotonic()
            if time.monotonic() - still > 15 or time.monotonic() > deadline:
                return stored
            time.sleep(0.5)

    def gaps_cli(self) -> int:
        """Missing records as ``predlog query --gaps --format json`` lists them."""
        out = subprocess.run(
            predlog_command("query", "--gaps", "--format", "json", "--store", self.store_url),
            check=True, capture_output=True, timeout=60,
        ).stdout  # fmt: skip
        return sum(int(row["missing"]) for row in json.loads(out))

    def figures(self, scenario: str, store: str, answers: Answers, **extra: Any) -> Figures:
        stored = self.settle(answers.job_ids)
        answered = answers.job_ids
        found = [j for j in answered if j in stored]
        counted = missing_total(self.engine)
        assert self.gaps_cli() == counted, "predlog query --gaps agrees with the streams table"
        if self.sidecar is not None and self.sidecar.alive():
            # The sidecar re-reads the gap total every PREDLOG_SIDECAR_GAPS_INTERVAL (1 s).
            wait_until(
                lambda: (
                    self.sidecar is not None
                    and self.sidecar.metric("predlog_sidecar_missing_records") == counted
                ),
                30,
                "the sidecar's missing-records metric agrees",
            )
            extra.setdefault(
                "store_errors", int(self.sidecar.metric("predlog_sidecar_store_errors_total"))
            )
            extra.setdefault("resends_absorbed", int(self.sidecar.metric(
                "predlog_sidecar_records_duplicate_total")))  # fmt: skip
        figures = Figures(
            scenario=scenario,
            store=store,
            sent=int(answers.summary.get("sent", len(answered))),
            answered=len(answered),
            stored=len(found),
            lost=len(answered) - len(found),
            duplicated=sum(n - 1 for n in stored.values() if n > 1)
            + (len(answered) - len(set(answered))),
            counted=counted,
            extra={"statuses": answers.statuses, **extra},
        )
        figures.extra["uncounted"] = max(0, figures.lost - figures.counted)
        figures.record()
        return figures


@dataclass
class System:
    """A sidecar and an api over one store, in a work directory."""

    store: str
    workdir: Path
    api_workers: int = 2
    api_drain: float = 1.0
    sidecar_env: dict[str, str] = field(default_factory=dict)
    spool: Path = field(init=False)
    sidecar: Sidecar = field(init=False)
    api: Api = field(init=False)

    def __post_init__(self) -> None:
        self.spool = self.workdir / "spool"
        self.spool.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            predlog_command("db", "upgrade", "--store", self.store),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        self.sidecar = Sidecar(self.store, self.spool, self.workdir, **self.sidecar_env)
        self.api = Api(
            self.sidecar.port, self.spool, self.workdir, self.api_workers, drain=self.api_drain
        )

    def start(self) -> System:
        self.sidecar.start()
        self.api.start()
        return self

    def ledger(self) -> Ledger:
        return Ledger(self.store, self.sidecar)

    def stop(self) -> None:
        """The api first (it flushes), then the sidecar (it drains)."""
        self.api.stop()
        self.sidecar.stop()
        assert not self.api.alive()
        assert not self.sidecar.alive()


def under_load(
    url: str, rate: float, seconds: float, faults: list[tuple[float, Any]], seed: int = 13
) -> Answers:
    """Run the load generator for ``seconds`` at ``rate`` and, meanwhile, each fault
    ``(at_seconds, callable)`` in order; the load's answers once it is done."""
    load = Load(url, rate, seconds, seed=seed).start()
    started = time.monotonic()
    try:
        for at, fault in faults:
            time.sleep(max(0.0, started + at - time.monotonic()))
            fault()
    finally:
        answers = load.join()
    return answers
