"""Remote-version overhead: predlog in front of an upstream against calling the upstream.

The upstream is a ``predlog api`` on the demo bundles (all traffic to iris 1). The front is
a second ``predlog api`` whose only version is a remote one on that upstream (OIP v2 infer,
no detector: the front validates, routes, calls, answers and logs). Each round takes wrk's
load on the upstream's ``POST /predict`` directly, then through the front, back to back in
alternating order. Figures: the front's CPU per request (what predlog in front adds), the
upstream's CPU per request both ways, and the p50 and p99 latency added (through minus
direct); medians over the rounds. Both servers log every request to a forward receiver.

    python -m bench.remote --models var/models --duration 3 --rounds 5
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from api.registry.remote import write_remote_bundle
from api.runtime.bundle import RemoteSpec
from bench.api import WARM_UP, run_wrk, server, tree_cpu, warm_up
from bench.ports import free_port
from bench.receiver import ForwardReceiver


@contextlib.contextmanager
def _api(models: Path, receiver: ForwardReceiver, *extra: str) -> Iterator[tuple[int, int]]:
    """A ``predlog api`` on ``models``: (port, pid)."""
    spool = Path(tempfile.mkdtemp(prefix="predlog-bench-spool-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    port = free_port()
    cmd = [
        sys.executable, "-m", "predlog", "api", "--port", str(port), "--workers", "1",
        "--models", str(models), "--forward", f"127.0.0.1:{receiver.port}",
        "--spool", str(spool), "--log-level", "warning", *extra,
    ]  # fmt: skip
    try:
        with server(cmd, port, env) as proc:
            yield port, proc.pid
    finally:
        shutil.rmtree(spool, ignore_errors=True)


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark; print a table; return the figures."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.remote", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--models", default=os.environ.get("PREDLOG_MODELS_DIR", "var/models"))
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of load per case")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5, help="rounds over the two cases")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("bench.remote needs wrk (make system-deps)")
    receiver = ForwardReceiver(keep=False)
    front_models = Path(tempfile.mkdtemp(prefix="predlog-bench-remote-"))
    rows: list[dict[str, Any]] = []
    try:
        with _api(Path(args.models), receiver, "--weights", "1=1,2=0") as (up_port, up_pid):
            spec = RemoteSpec(endpoints=[f"http://127.0.0.1:{up_port}"], protocol="oip")
            write_remote_bundle(
                front_models / "iris" / "r",
                spec,
                source=Path(args.models) / "iris" / "1",
                version="r",
                detector=False,
            )
            with _api(front_models, receiver) as (front_port, front_pid):
                warm_up(up_port, "/predict", WARM_UP)
                warm_up(front_port, "/predict", WARM_UP)
                for n in range(args.rounds):
                    cases = [("direct", up_port), ("through predlog", front_port)]
                    for name, port in cases if n % 2 == 0 else cases[::-1]:
                        up_before, front_before = tree_cpu(up_pid), tree_cpu(front_pid)
                        started = time.perf_counter()
                        load = run_wrk(port, "/predict", args.duration, args.connections, 1)
                        elapsed = time.perf_counter() - started
                        requests = load["requests"]
                        rows.append(
                            {
                                "case": name,
                                "round": n + 1,
                                **load,
                                "throughput_rps": requests / elapsed,
                                "upstream_cpu_us": (tree_cpu(up_pid) - up_before) / requests * 1e6,
                                "front_cpu_us": (tree_cpu(front_pid) - front_before)
                                / requests
                                * 1e6,
                            }
                        )
    finally:
        receiver.close()
        shutil.rmtree(front_models, ignore_errors=True)

    def median(case: str, key: str) -> float:
        return float(statistics.median(r[key] for r in rows if r["case"] == case))

    def added(key: str) -> float:
        """The median over rounds of (through - direct) for ``key``, measured back to back."""
        by_round = {(r["round"], r["case"]): r[key] for r in rows}
        return float(
            statistics.median(
                by_round[(n, "through predlog")] - by_round[(n, "direct")]
                for n in range(1, args.rounds + 1)
            )
        )

    figures: dict[str, object] = {
        "connections": args.connections,
        "duration_s": args.duration,
        "rounds": rows,
        "front_cpu_us_per_request": median("through predlog", "front_cpu_us"),
        "upstream_cpu_us_per_request": {
            case: median(case, "upstream_cpu_us") for case in ("direct", "through predlog")
        },
        "p50_added_ms": added("p50_ms"),
        "p99_added_ms": added("p99_ms"),
        "failed": sum(int(r["failed"]) for r in rows),
    }
    print(
        f"wrk, {args.connections} connections, {args.duration:g}s per case and round, "
        f"{args.rounds} rounds, 1 worker each, every request logged (front and upstream)"
    )
    print(
        f"{'case':<16}{'round':>6}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'front us/req':>14}{'upstream us/req':>17}"
    )
    for r in rows:
        print(
            f"{r['case']:<16}{r['round']:>6}{r['throughput_rps']:>9.0f}{r['p50_ms']:>8.2f}"
            f"{r['p99_ms']:>8.2f}{r['front_cpu_us']:>14.1f}{r['upstream_cpu_us']:>17.1f}"
        )
    print(
        f"predlog in front: {figures['front_cpu_us_per_request']:.0f} us CPU per request, "
        f"p50 +{figures['p50_added_ms']:.2f} ms, p99 +{figures['p99_added_ms']:.2f} ms; "
        f"upstream CPU per request {figures['upstream_cpu_us_per_request']}; "
        f"failed {figures['failed']}"
    )
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
