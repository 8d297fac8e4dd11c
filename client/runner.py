"""The open-loop sender: one aiohttp session, sends fired on schedule, never after answers."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Coroutine, Sequence
from time import perf_counter as clock
from typing import Any, TextIO

import aiohttp
import orjson
import uvloop
from yarl import URL

from client.feedback import FeedbackSender, fetch_labels
from client.rows import Body, FeatureStat, RowSampler, Training
from client.schedule import Schedule
from client.settings import LoadSettings
from client.shift import shift_vector
from client.stats import LoadStats, Summary

LATE_AFTER_S = 0.010
"""A send that leaves more than this after its scheduled time is counted as late."""
SLEEP_QUANTUM_S = 0.001
"""The sender sleeps at least this long between wake-ups; sends due meanwhile leave together."""
START_LEAD_S = 0.05
"""The schedule starts this long after setup, so that the first sends are not late."""
HEADERS = {"Content-Type": "application/json"}


class LoadError(RuntimeError):
    """The load run cannot start (the api is unreachable or says nothing usable)."""


def predict_url(settings: LoadSettings) -> URL:
    """The URL every request is posted to, with the model and pinned version if any."""
    url = URL(settings.url.rstrip("/") + settings.endpoint)
    query = {k: v for k, v in (("model", settings.model), ("version", settings.version)) if v}
    return url.with_query(query) if query else url


def label_url(settings: LoadSettings) -> URL:
    """``GET /label`` of the model (and pinned version) the run sends to."""
    return URL(settings.url.rstrip("/") + "/label").with_query(predict_url(settings).query)


async def fetch_training(session: aiohttp.ClientSession, base_url: str) -> Training:
    """The default model's training statistics and sample rows from ``GET /metadata``."""
    url = base_url.rstrip("/") + "/metadata"
    try:
        async with session.get(url) as response:
            if response.status != 200:
                raise LoadError(f"GET {url} answered {response.status}")
            metadata = orjson.loads(await response.read())
    except aiohttp.ClientError as exc:
        raise LoadError(f"GET {url} failed: {exc}") from exc
    if not isinstance(metadata, dict) or not metadata.get("feature_stats"):
        raise LoadError(f"GET {url} has no feature_stats to draw rows from")
    return Training.from_metadata(metadata)


def flagged_outliers(raw: bytes) -> int:
    """How many rows of a /predict answer the api flagged as outliers."""
    try:
        flag = orjson.loads(raw).get("is_outlier")
    except (orjson.JSONDecodeError, AttributeError):
        return 0
    if isinstance(flag, list):
        return sum(1 for item in flag if item is True)
    return int(flag is True)


class LoadRun:
    """One run: the schedule, the sends in flight, the counters."""

    def __init__(
        self,
        settings: LoadSettings,
        session: aiohttp.ClientSession,
        sampler: RowSampler,
        progress: TextIO | None,
        feedback: FeedbackSender | None = None,
    ) -> None:
        self.settings = settings
        self.session = session
        self.sampler = sampler
        self.progress = progress
        self.feedback = feedback
        """Sends ground truth for a share of the answers (None: none sent)."""
        self.url = predict_url(settings)
        self.stats = LoadStats(requested_rate=settings.rate, scheduled=settings.total)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()

    async def run(self) -> Summary:
        """Send the whole schedule, wait for the answers, and summarise."""
        loop = self._loop
        schedule = Schedule(clock() + START_LEAD_S, self.settings.rate, self.settings.total)
        reporter = loop.create_task(self._report(schedule)) if self.progress else None
        last_send = await self._send_all(schedule)
        if self._tasks:
            # Every request has its own client timeout; this bound only guards against a hang.
            await asyncio.wait(set(self._tasks), timeout=self.settings.timeout + 5)
        leftover = list(self._tasks)
        for task in leftover:
            task.cancel()
        # Let the cancelled sends count themselves as errors before the summary is taken.
        await asyncio.gather(*leftover, return_exceptions=True)
        if reporter is not None:
            reporter.cancel()
        elapsed = clock() - schedule.start
        span = max(schedule.span, last_send - schedule.start + 1 / schedule.rate)
        summary = self.stats.summary(send_span_s=span, elapsed_s=elapsed)
        if self.feedback is not None:
            counts = await self.feedback.close(self.settings.timeout + 5)
            summary = dataclasses.replace(summary, feedback=counts)
        return summary

    async def _send_all(self, schedule: Schedule) -> float:
        """Fire each send at its absolute time; returns when the last one left."""
        stats, cap = self.stats, self.settings.concurrency_limit
        bodies = self.sampler.stream(schedule.total)
        index = 0
        last_send = schedule.start
        while index < schedule.total:
            now = clock()
            due = schedule.due_by(now)
            while index < due:
                body = next(bodies)
                if stats.in_flight >= cap:
                    stats.on_dropped()
                else:
                    scheduled = schedule.due_at(index)
                    late = now - scheduled > LATE_AFTER_S
                    stats.on_sent(body.outlier, late)
                    # A late send's latency counts from when it should have left, so that a
                    # stalled sender cannot hide a slow server; an on-time one from when it left.
                    self._spawn(self._send(body, scheduled if late else now))
                    last_send = now
                index += 1
            if index < schedule.total:
                # Waking for every sub-millisecond gap would spin the loop (its timers tick in
                # milliseconds): sleep at least a quantum and fire whatever fell due meanwhile.
                await asyncio.sleep(max(SLEEP_QUANTUM_S, schedule.due_at(index) - clock()))
        return last_send

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, body: Body, origin: float) -> None:
        try:
            async with self.session.post(self.url, data=body.payload, headers=HEADERS) as response:
                raw = await response.read()
                status = response.status
        except TimeoutError:
            self.stats.on_error("timeout")
            return
        except asyncio.CancelledError:
            # Only a request still unanswered long past its timeout is cancelled: count it.
            self.stats.on_error("cancelled")
            raise
        except Exception as exc:  # a load run counts every failure, by kind, and goes on
            self.stats.on_error(type(exc).__name__)
            return
        latency = clock() - origin
        self.stats.on_answer(status, latency, flagged_outliers(raw) if status == 200 else 0)
        if status == 200 and self.feedback is not None:
            self.feedback.observe(raw)

    async def _report(self, schedule: Schedule) -> None:
        assert self.progress is not None
        previous = 0
        while True:
            await asyncio.sleep(1.0)
            s = self.stats
            elapsed = clock() - schedule.start
            self.progress.write(
                f"[{elapsed:6.1f}s] sent {s.sent}/{s.scheduled} ({s.sent - previous}/s) "
                f"answered {s.answered} errors {s.errors} dropped {s.dropped} late {s.late} "
                f"in-flight {s.in_flight}\n"
            )
            self.progress.flush()
            previous = s.sent


async def run_load_async(
    settings: LoadSettings,
    *,
    progress: TextIO | None = None,
    stats: Sequence[FeatureStat] | None = None,
) -> Summary:
    """Run the load described by ``settings``; rows come from ``/metadata`` unless given."""
    connector = aiohttp.TCPConnector(limit=settings.concurrency_limit, ttl_dns_cache=300)
    timeout = aiohttp.ClientTimeout(total=settings.timeout)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, skip_auto_headers=("User-Agent",)
    ) as session:
        training = Training(tuple(stats)) if stats is not None else None
        if training is None:
            training = await fetch_training(session, settings.url)
        sampler = RowSampler(
            training.stats,
            settings.outlier_fraction,
            settings.seed,
            training.sample,
            shift=shift_vector(training.stats, settings.shift),
        )
        feedback = None
        if settings.feedback_fraction > 0:
            labels = await fetch_labels(session, str(label_url(settings)))
            feedback = FeedbackSender(
                session,
                settings.url.rstrip("/") + "/feedback",
                labels,
                settings.feedback_fraction,
                settings.feedback_accuracy,
                settings.seed,
            )
        return await LoadRun(settings, session, sampler, progress, feedback).run()


def run_load(settings: LoadSettings, *, progress: TextIO | None = sys.stderr) -> Summary:
    """Run the load on a fresh (uvloop) event loop; progress lines go to ``progress``."""
    return uvloop.run(run_load_async(settings, progress=progress if settings.progress else None))
