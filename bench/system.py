"""The whole system's CPU per request: api + sidecar + SQLite store against a no-op endpoint.

Each round serves the same wrk load from a no-op FastAPI app (parses the body, answers) and
from ``predlog api`` forwarding every record to a real ``predlog sidecar`` that stores it in
SQLite. The system's CPU is the api's and the sidecar's process trees together, counted
until the store holds every record, so the cost of storing is in the figure. Target: at most
1.6 x the no-op's CPU per request.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.api import (
    UVICORN_FLAGS,
    WARM_UP,
    measure,
    run_wrk,
    server,
    tree_cpu,
    warm_up,
)
from bench.ports import free_port, free_ports


def stored(database: Path) -> int:
    """Rows in the store's predictions table."""
    with contextlib.closing(sqlite3.connect(database, timeout=5)) as conn:
        count: int = conn.execute("SELECT count(*) FROM predictions").fetchone()[0]
        return count


def wait_stored(database: Path, at_least: int, timeout: float = 120.0) -> int:
    """Wait until the store holds ``at_least`` rows and stops growing; the row count."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        now = stored(database)
        if now >= at_least and now == last:
            return now
        last = now
        time.sleep(0.5)
    raise RuntimeError(f"store holds {last} rows, expected at least {at_least}")


@contextlib.contextmanager
def sidecar(workdir: Path, env: dict[str, str]) -> Iterator[tuple[int, Path, int]]:
    """``predlog sidecar`` over a fresh SQLite store: (forward port, database, pid)."""
    database = workdir / "store.db"
    store = f"sqlite:///{database}"
    subprocess.run(
        [sys.executable, "-m", "predlog", "db", "upgrade", "--store", store],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    port, http_port = free_ports(2)
    cmd = [
        sys.executable, "-m", "predlog", "sidecar", "--port", str(port),
        "--http-port", str(http_port), "--store", store, "--spool", str(workdir / "spool"),
    ]  # fmt: skip
    with server(cmd, http_port, env) as proc:
        yield port, database, proc.pid


def run_system(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """wrk against the api, the sidecar storing every record; CPU of both until all stored."""
    workdir = Path(tempfile.mkdtemp(prefix="predlog-bench-system-"))
    try:
        with sidecar(workdir, env) as (forward, database, sidecar_pid):
            port = free_port()
            cmd = [
                sys.executable, "-m", "predlog", "api", "--port", str(port), "--workers", "1",
                "--models", args.models, "--forward", f"127.0.0.1:{forward}",
                "--spool", str(workdir / "spool"), "--log-level", "warning",
            ]  # fmt: skip
            with server(cmd, port, env) as api:
                warm_up(port, "/predict")
                wait_stored(database, WARM_UP)
                cpu_before = tree_cpu(api.pid) + tree_cpu(sidecar_pid)
                started = time.perf_counter()
                load = run_wrk(port, "/predict", args.duration, args.connections, 1)
                elapsed = time.perf_counter() - started
                rows = wait_stored(database, WARM_UP + int(load["requests"]))
                cpu = tree_cpu(api.pid) + tree_cpu(sidecar_pid) - cpu_before
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    requests = load["requests"]
    return {
        "server": "api + sidecar + SQLite",
        "requests": requests,
        "failed": load["failed"],
        "throughput_rps": requests / elapsed,
        "p50_ms": load["p50_ms"],
        "p99_ms": load["p99_ms"],
        "cpu_us_per_request": cpu / requests * 1e6,
        "rows_stored": rows - WARM_UP,
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark; print a table; return the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.system", description=__doc__)
    parser.add_argument("--models", default=os.environ.get("PREDLOG_MODELS_DIR", "var/models"))
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="noop/system pairs, order alternated")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("bench.system needs wrk (make system-deps)")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    noop_cmd = [
        sys.executable, "-m", "uvicorn", "bench.api:noop_app", "--factory", "--workers", "1",
        *UVICORN_FLAGS, "--log-level", "warning",
    ]  # fmt: skip
    args.generator, args.threads = "wrk", 1

    def run_noop() -> dict[str, Any]:
        port = free_port()
        return measure("no-op FastAPI", [*noop_cmd, "--port", str(port)], port, "/predict",
                       env, args)  # fmt: skip

    rounds = []
    for i in range(args.rounds):
        if i % 2 == 0:
            noop, system = run_noop(), run_system(args, env)
        else:
            system, noop = run_system(args, env), run_noop()
        rounds.append({
            "noop": noop, "system": system,
            "cpu_ratio": system["cpu_us_per_request"] / noop["cpu_us_per_request"],
            "throughput_ratio": system["throughput_rps"] / noop["throughput_rps"],
        })  # fmt: skip
    print(f"load: wrk, {args.connections} connections, {args.duration:g}s per server and round")
    print(f"{'server':<26}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>12}{'stored':>9}")
    for n, r in enumerate(rounds, 1):
        for row in (r["noop"], r["system"]):
            print(
                f"{row['server']:<26}{row['throughput_rps']:>10.0f}{row['p50_ms']:>9.2f}"
                f"{row['p99_ms']:>9.2f}{row['cpu_us_per_request']:>12.1f}"
                f"{row.get('rows_stored', ''):>9}"
            )
        print(f"  round {n}: CPU per request x{r['cpu_ratio']:.2f}")
    cpu_ratio = statistics.median(r["cpu_ratio"] for r in rounds)
    print(f"ratio system/no-op (median of rounds): CPU per request {cpu_ratio:.2f} (target <= 1.6)")
    return {"rounds": rounds, "cpu_ratio": cpu_ratio, "duration_s": args.duration}


if __name__ == "__main__":
    main(sys.argv[1:])
