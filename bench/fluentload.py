"""The load side of the sidecar benchmark: fluent-logger senders and a decode-only receiver.

``run_senders`` starts sender processes that emit with the real
``fluent.sender.FluentSender`` (Message mode, EventTime, one event per emit, the api's
UUIDv7 job ids), as fast as they can or at a steady rate; ``phase_decode_only`` measures
how fast they go against a receiver that only decodes msgpack: the reference rate.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import sys
import time
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from fluent.sender import FluentSender

from api.job_ids import new_job_id
from bench.ports import free_port
from bench.receiver import serve
from sidecar.record import PredictionRecord, RowResult

uvloop: Any
try:
    import uvloop
except ImportError:  # optional: the baseline runs on plain asyncio then
    uvloop = None


def template() -> dict[str, Any]:
    return PredictionRecord(
        job_id="x",
        event_time=0.0,
        endpoint="/predict",
        status=200,
        model="iris",
        version="1",
        routing="weighted",
        inputs=[[5.1, 3.5, 1.4, 0.2]],
        results=[
            RowResult(
                prediction=[0.97, 0.02, 0.01], label="setosa", outlier_score=0.12, is_outlier=False
            )
        ],
        latency_ms=1.7,
        inference_ms=0.3,
        host="bench",
        pid=0,
        seq=1,
    ).to_wire()


# --- sender processes ------------------------------------------------------------------


def sender(port: int, seconds: float, rate: float, host: str, go: Any, out: Any) -> None:
    """Emit records for ``seconds`` (as fast as possible, or at ``rate`` per second)."""
    base = template()
    pid = os.getpid()
    fluent = FluentSender("predlog", host="127.0.0.1", port=port, nanosecond_precision=True)
    go.wait()
    cpu = time.process_time()
    started = time.monotonic()
    end = started + seconds
    sent = failed = 0
    seq = 0
    while True:
        now = time.monotonic()
        if now >= end:
            break
        burst = 100
        if rate:
            due = int((now - started) * rate)
            burst = due - seq
            if burst <= 0:
                time.sleep(0.002)
                continue
        for _ in range(burst):
            seq += 1
            # The api's own job ids (UUIDv7: time-ordered, so the store's unique index
            # grows at one end, as it does in production).
            record = dict(base, job_id=new_job_id(), event_time=time.time(), seq=seq)
            record["host"], record["pid"] = host, pid
            if fluent.emit("prediction", record):
                sent += 1
            else:
                failed += 1
    fluent.close()
    out.put((sent, failed, time.process_time() - cpu))


def run_senders(
    port: int, n: int, seconds: float, rate: float = 0, host: str = "bench"
) -> tuple[int, float]:
    """Records sent by ``n`` sender processes, and their CPU seconds."""
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    out = ctx.Queue()
    procs = [
        ctx.Process(target=sender, args=(port, seconds, rate, host, go, out)) for _ in range(n)
    ]
    for proc in procs:
        proc.start()
    time.sleep(1.0)  # let them import and connect
    go.set()
    results = [out.get(timeout=seconds + 60) for _ in procs]
    for proc in procs:
        proc.join(10)
    failed = sum(r[1] for r in results)
    if failed:
        print(f"  warning: {failed} emits failed (fluent-logger resends them)", file=sys.stderr)
    return sum(r[0] for r in results), sum(r[2] for r in results)


# --- decode-only receiver ----------------------------------------------------------------


def decode_only(port: int, count: Synchronized[int], last: Synchronized[float], ready: Any) -> None:
    """A forward-protocol receiver that only decodes (the baseline), in this process."""
    if uvloop is not None:
        uvloop.install()

    def counted(n: int) -> None:
        count.value += n
        last.value = time.monotonic()

    async def main() -> None:
        await serve(port, counted, acks=False)  # fluent-logger asks for none
        ready.set()
        await asyncio.sleep(3600)

    asyncio.run(main())


def phase_decode_only(senders: int, seconds: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    port = free_port()
    count, last, ready = ctx.Value("q", 0), ctx.Value("d", 0.0), ctx.Event()
    proc = ctx.Process(target=decode_only, args=(port, count, last, ready), daemon=True)
    proc.start()
    ready.wait(30)
    try:
        start = time.monotonic() + 1.0  # run_senders releases them after 1 s
        sent, cpu = run_senders(port, senders, seconds)
        deadline = time.monotonic() + 30
        while count.value < sent and time.monotonic() < deadline:
            time.sleep(0.02)
        elapsed = last.value - start
        return {
            "sent": sent,
            "decoded": count.value,
            "seconds": elapsed,
            "rate": sent / elapsed,
            "sender_cpu_us": cpu / sent * 1e6,
        }
    finally:
        proc.terminate()
        proc.join(10)
