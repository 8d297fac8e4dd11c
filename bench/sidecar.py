"""Sidecar benchmark: fluent-logger -> sidecar -> store, against a decode-only receiver.

Run: ``python -m bench.sidecar [--duration 5] [--rounds 3] [--stores sqlite,postgresql]``.
Every phase uses the same sender processes (the real ``fluent.sender.FluentSender``,
Message mode, one event per emit). Each round runs them first against a receiver that
only decodes, then against ``predlog sidecar`` (a subprocess) writing into each store.
Ingest rate = records stored / time from the first send until the last commit; the
ratio to the decode-only rate of the same round is taken, and the median of the rounds
reported. Then one sender at a steady 2,000 records/s gives the event-to-commit lag, and
the sidecar's RSS is sampled throughout.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
from sqlalchemy import select

from bench.fluentload import phase_decode_only, run_senders, sender
from bench.ports import free_ports, wait_port
from sidecar.store.engine import make_engine
from sidecar.store.schema import predictions

PG_ADMIN_URL = os.environ.get("PREDLOG_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
LAG_RATE = 2000


# --- the sidecar -----------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_store() -> Iterator[str | None]:
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=2) as conn:
            name = f"predlog_bench_{uuid.uuid4().hex[:10]}"
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # no server: the PostgreSQL figures are skipped, and said so
        print(f"  PostgreSQL unavailable ({exc}); skipped", file=sys.stderr)
        yield None
        return
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class SidecarProcess:
    def __init__(self, store: str, spool: Path, migrate: bool = True) -> None:
        self.port, self.http_port = free_ports(2)
        env = dict(os.environ, PREDLOG_SIDECAR_DRAIN_TIMEOUT="60" if migrate else "0")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "predlog", "sidecar",
                "--migrate" if migrate else "--no-migrate",
                "--port", str(self.port), "--http-port", str(self.http_port),
                "--store", store, "--spool", str(spool),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )  # fmt: skip
        wait_port(self.port)
        self.ps = psutil.Process(self.proc.pid)
        # The writer runs in a child process (multiprocessing's resource tracker is
        # another, idle one): CPU and memory are the whole tree's.
        self.tree = [self.ps, *self.ps.children(recursive=True)]
        self.max_rss = 0

    def metrics(self) -> dict[str, float]:
        url = f"http://127.0.0.1:{self.http_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def rss(self) -> int:
        """Resident memory of the sidecar's processes."""
        total = 0
        for proc in self.tree:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def cpu_seconds(self) -> float:
        """User + system CPU time of the sidecar's processes so far."""
        total = 0.0
        for proc in self.tree:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def sample_rss(self) -> None:
        self.max_rss = max(self.max_rss, self.rss())

    def settled(self) -> float:
        m = self.metrics()
        return m.get("predlog_sidecar_records_stored_total", 0) + m.get(
            "predlog_sidecar_records_duplicate_total", 0
        )

    def wait_stored(self, total: int, timeout: float = 120) -> float:
        """Time (monotonic) when ``total`` records were committed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sample_rss()
            if self.settled() >= total:
                return time.monotonic()
            time.sleep(0.05)  # each poll renders /metrics in the sidecar: not too often
        raise TimeoutError(f"only {self.settled()} of {total} records stored")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def histogram_quantile(metrics: dict[str, float], name: str, q: float) -> float:
    """The upper bound of the bucket holding quantile ``q`` (a conservative figure)."""
    buckets = sorted(
        (float(k.split('le="')[1].rstrip('"}')), v)
        for k, v in metrics.items()
        if k.startswith(f"{name}_bucket")
    )
    total = buckets[-1][1] if buckets else 0
    for bound, cumulative in buckets:
        if total and cumulative >= q * total:
            return bound
    return float("nan")


def phase_ingest(store: str, senders: int, seconds: float) -> dict[str, Any]:
    """Full-speed senders into the sidecar: records committed per second, CPU, RSS."""
    with tempfile.TemporaryDirectory(prefix="predlog-bench-") as spool:
        sc = SidecarProcess(store, Path(spool))
        try:
            start = time.monotonic() + 1.0
            cpu_before = sc.cpu_seconds()
            sent, sender_cpu = run_senders(sc.port, senders, seconds)
            done = sc.wait_stored(sent)
            elapsed = done - start
            sidecar_cpu = sc.cpu_seconds() - cpu_before
            return {
                "sent": sent,
                "seconds": elapsed,
                "rate": sent / elapsed,
                "sender_cpu_us": sender_cpu / sent * 1e6,
                "sidecar_cpu_us": sidecar_cpu / sent * 1e6,
                "rss_max_mib": sc.max_rss / 2**20,
            }
        finally:
            sc.stop()


def phase_lag(store: str, seconds: float) -> dict[str, Any]:
    """One sender at a steady LAG_RATE into a fresh sidecar: event-to-commit lag."""
    with tempfile.TemporaryDirectory(prefix="predlog-bench-") as spool:
        sc = SidecarProcess(store, Path(spool))
        try:
            before = sc.metrics()
            sent, _ = run_senders(sc.port, 1, seconds, rate=LAG_RATE, host="lag")
            sc.wait_stored(sent)
            after = sc.metrics()
        finally:
            sc.stop()
    p50, p99 = lag_from_store(store)
    name = "predlog_sidecar_commit_lag_seconds"
    delta = {k: after[k] - before.get(k, 0) for k in after if k.startswith(name)}
    return {
        "lag_records": sent,
        "lag_rate": sent / seconds,
        "lag_p50_s": p50,
        "lag_p99_s": p99,
        "lag_p99_bucket_s": histogram_quantile(delta, name, 0.99),
    }


@contextlib.contextmanager
def fresh_store(kind: str) -> Iterator[str | None]:
    """An empty SQLite file or PostgreSQL database (None when PostgreSQL is not there)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="predlog-bench-db-") as tmp:
            yield f"sqlite:///{tmp}/bench.db"
    else:
        with postgres_store() as url:
            yield url


def phase_store_down(senders: int, seconds: float) -> dict[str, Any]:
    """RSS while the store is unusable (no schema): the spool grows, memory must not."""
    with tempfile.TemporaryDirectory(prefix="predlog-bench-") as tmp:
        sc = SidecarProcess(f"sqlite:///{tmp}/down.db", Path(tmp), migrate=False)
        try:
            sc.sample_rss()
            idle = sc.max_rss
            ctx = mp.get_context("spawn")
            out = ctx.Queue()
            go = ctx.Event()
            procs = [
                ctx.Process(target=sender, args=(sc.port, seconds, 0, "down", go, out))
                for _ in range(senders)
            ]
            for proc in procs:
                proc.start()
            time.sleep(1.0)
            go.set()
            samples = []
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                sc.sample_rss()
                samples.append(sc.rss())
                time.sleep(0.1)
            sent = sum(out.get(timeout=60)[0] for _ in procs)
            for proc in procs:
                proc.join(10)
            spooled = sc.metrics().get("predlog_sidecar_spool_bytes", 0)
            half = samples[len(samples) // 2 :] or [idle]
            return {
                "sent": sent,
                "spool_mib": spooled / 2**20,
                "rss_idle_mib": idle / 2**20,
                "rss_first_half_max_mib": max(samples[: len(samples) // 2] or [idle]) / 2**20,
                "rss_second_half_max_mib": max(half) / 2**20,
            }
        finally:
            sc.stop()


def lag_from_store(store: str) -> tuple[float, float]:
    """p50 and p99 of stored_at - event_time for the steady-rate records."""
    engine = make_engine(store)
    with engine.connect() as conn:
        rows = conn.execute(
            select(predictions.c.event_time, predictions.c.stored_at).where(
                predictions.c.host == "lag"
            )
        ).all()
    engine.dispose()
    lags = sorted((s - e).total_seconds() for e, s in rows)
    if not lags:
        return float("nan"), float("nan")
    return lags[len(lags) // 2], lags[min(len(lags) - 1, int(len(lags) * 0.99))]


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the sidecar benchmark, print a table and return the figures."""
    parser = argparse.ArgumentParser(prog="bench.sidecar", description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of full-speed load")
    parser.add_argument(
        "--senders",
        type=int,
        default=max(1, (os.cpu_count() or 2) // 2),
        help="fluent-logger sender processes (default: half the cores; the sidecar gets the rest)",
    )
    parser.add_argument("--lag-seconds", type=float, default=5.0, help="seconds at 2,000/s")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of decode-only then each store; a ratio is the median of the rounds'",
    )
    args, _ = parser.parse_known_args(argv)
    stores = args.stores.split(",")

    results: dict[str, object] = {"senders": args.senders, "duration_s": args.duration}
    # On a shared machine the rates drift between runs and within one: each round measures
    # the decode-only receiver just before the sidecar, and the figures are the medians.
    rounds: list[dict[str, Any]] = []
    for n in range(1, args.rounds + 1):
        print(f"round {n}: decode-only receiver ({args.senders} sender processes) ...")
        decode = phase_decode_only(args.senders, args.duration)
        this: dict[str, Any] = {"decode_only": decode}
        for store_name in stores:
            print(f"round {n}: sidecar -> {store_name} ...")
            with fresh_store(store_name) as store:
                if store is None:
                    continue
                figures = phase_ingest(store, args.senders, args.duration)
            this[store_name] = figures | {"ratio": figures["rate"] / decode["rate"]}
        rounds.append(this)
    results["rounds"] = rounds
    decode_rates = [r["decode_only"]["rate"] for r in rounds]
    sender_cpu = statistics.median(r["decode_only"]["sender_cpu_us"] for r in rounds)
    results["decode_only_rate"] = statistics.median(decode_rates)
    rows = [
        ("decode-only", results["decode_only_rate"], 1.0, "", f"{sender_cpu:.0f}", "", "", "", "")
    ]
    for store_name in stores:
        ingests = [r[store_name] for r in rounds if store_name in r]
        if not ingests:
            continue
        with fresh_store(store_name) as store:
            assert store is not None
            print(f"sidecar -> {store_name} at a steady {LAG_RATE}/s ...")
            lag = phase_lag(store, args.lag_seconds)
        ratios = [f["ratio"] for f in ingests]
        figures = {
            "ratio": statistics.median(ratios),
            "ratios": ratios,
            "rate": statistics.median(f["rate"] for f in ingests),
            "sender_cpu_us": statistics.median(f["sender_cpu_us"] for f in ingests),
            "sidecar_cpu_us": statistics.median(f["sidecar_cpu_us"] for f in ingests),
            "rss_max_mib": max(f["rss_max_mib"] for f in ingests),
            **lag,
        }
        results[store_name] = figures
        rows.append(
            (
                f"sidecar -> {store_name}",
                figures["rate"],
                figures["ratio"],
                " ".join(f"{r:.2f}" for r in ratios),
                f"{figures['sender_cpu_us']:.0f}",
                f"{figures['sidecar_cpu_us']:.0f}",
                f"{figures['lag_p50_s'] * 1000:.0f} / {figures['lag_p99_s'] * 1000:.0f}",
                f"{figures['lag_p99_bucket_s'] * 1000:.0f}",
                f"{figures['rss_max_mib']:.0f}",
            )
        )
    print("store down (no schema): the spool grows, RSS must not ...")
    down = phase_store_down(args.senders, args.duration)
    results["store_down"] = down
    header = (
        "path",
        "records/s",
        "x decode",
        "rounds",
        "send us/rec",
        "sidecar us/rec",
        "lag p50/p99 ms",
        "p99 bucket",
        "RSS MiB",
    )
    print(
        f"{header[0]:<22}{header[1]:>11}{header[2]:>10}{header[3]:>17}"
        + "".join(f"{h:>15}" for h in header[4:])
    )
    for path, rate, ratio, per_round, *rest in rows:
        print(
            f"{path:<22}{rate:>11.0f}{ratio:>10.2f}{per_round:>17}"
            + "".join(f"{c:>15}" for c in rest)
        )
    print(
        "medians of the rounds; us/rec = CPU microseconds per record (the senders' own; "
        "the sidecar's processes')"
    )
    print("decode-only by round: " + ", ".join(f"{r:.0f}" for r in decode_rates) + " records/s")
    print(
        f"store down: {down['sent']} records spooled ({down['spool_mib']:.0f} MiB on disk); "
        f"sidecar RSS idle {down['rss_idle_mib']:.0f} MiB, max in the first half of the load "
        f"{down['rss_first_half_max_mib']:.0f} MiB, in the second half "
        f"{down['rss_second_half_max_mib']:.0f} MiB"
    )
    print(f"targets: ingest >= 0.8 x decode-only; lag p99 < 1000 ms at {LAG_RATE}/s")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
