"""Load generator benchmark: achieved vs requested rate against a minimal fast HTTP server.

Run: ``python -m bench.load [--rates 500,1000,2000,3000] [--duration 5]``.
The server is ``client.responder`` (a raw uvloop protocol that answers like /predict) in its
own process, so that what is measured is the generator: one aiohttp session with a keep-alive
pool, bodies serialised ahead of time, sends fired at absolute times on uvloop. The target:
the achieved rate within 2% of the requested one up to at least 2,000 requests/s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

from bench.ports import free_port, wait_port
from client import LoadSettings, run_load
from client.stats import RATE_TOLERANCE


def measure(url: str, rate: float, duration: float) -> dict[str, Any]:
    """One run at ``rate`` for ``duration`` seconds; the summary's figures."""
    settings = LoadSettings(
        url=url, rate=rate, duration=duration, outlier_fraction=0.05, seed=1, progress=False
    )
    summary = run_load(settings, progress=None)
    latency = summary.latency_ms
    return {
        "requested": rate,
        "achieved": summary.achieved_rate,
        "ratio": round(summary.achieved_rate / rate, 4),
        "within_2pct": summary.rate_within_tolerance,
        "sent": summary.sent,
        "answered": summary.answered,
        "dropped": summary.dropped,
        "late": summary.late,
        "errors": summary.errors,
        "p50_ms": latency.p50 if latency else None,
        "p99_ms": latency.p99 if latency else None,
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the load generator benchmark, print a table and return the figures."""
    parser = argparse.ArgumentParser(prog="bench.load", description=__doc__)
    parser.add_argument("--rates", default="500,1000,2000,3000", help="requested rates, req/s")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per rate")
    args, _ = parser.parse_known_args(argv)
    rates = [float(r) for r in args.rates.split(",") if r]

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "client.responder", "--port", str(port)])
    try:
        wait_port(port)
        url = f"http://127.0.0.1:{port}"
        measure(url, 200, 0.5)  # warm-up: imports, first connections
        runs = [measure(url, rate, args.duration) for rate in rates]
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(
        f"{'requested/s':>12} {'achieved/s':>11} {'ratio':>7} {'within 2%':>9} "
        f"{'dropped':>8} {'late':>6} {'p50 ms':>8} {'p99 ms':>8}"
    )
    for run in runs:
        print(
            f"{run['requested']:>12g} {run['achieved']:>11g} {run['ratio']:>7.4f} "
            f"{'yes' if run['within_2pct'] else 'NO':>9} {run['dropped']:>8} {run['late']:>6} "
            f"{run['p50_ms']!s:>8} {run['p99_ms']!s:>8}"
        )
    held = [run["requested"] for run in runs if run["within_2pct"]]
    max_held = max(held, default=0.0)
    target_met = all(run["within_2pct"] for run in runs if run["requested"] <= 2000)
    print(
        f"highest rate held within {RATE_TOLERANCE:.0%}: {max_held:g}/s; "
        f"target (2,000/s) {'met' if target_met else 'NOT met'}"
    )
    return {
        "duration_s": args.duration,
        "runs": runs,
        "max_rate_within_2pct": max_held,
        "target_2000_met": target_met,
    }


if __name__ == "__main__":
    main(sys.argv[1:])
