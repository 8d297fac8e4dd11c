"""Shadow traffic: the primary's latency with a shadow version taking a copy of every request.

``predlog api`` serves iris from the registry in the store; ``predlog load`` sends a steady
rate (below saturation: what a shadow must not change is the caller's latency, not the
peak throughput of a two-core machine). Rounds alternate: no shadow, then a shadow
version deployed with ``mode=shadow`` (a copy of every request), then retired again.
Reported per round: the callers' p50 / p99, the api's CPU per request (primary plus its
copy), and the copies answered and dropped (``predlog_api_shadow_copies_total``).

    python -m bench.shadow --models var/models --rounds 4 --rate 300
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from bench.api import server, tree_cpu
from bench.ports import free_port
from bench.receiver import ForwardReceiver
from bench.registry import admin, registry_store, until_everywhere, version_bundle
from client import LoadSettings, run_load


def copies(base: str) -> dict[str, float]:
    """Shadow copies by outcome, summed over versions, from the api's /metrics."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("predlog_api_shadow_copies_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            out[outcome] = out.get(outcome, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def one_round(base: str, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    """A steady load run: callers' latency and the api's CPU per request."""
    before, copied = tree_cpu(pid), copies(base)
    summary = run_load(
        LoadSettings(url=base, rate=args.rate, duration=args.duration, seed=5), progress=None
    )
    used = tree_cpu(pid) - before
    after = copies(base)
    latency = summary.latency_ms
    return {
        "answered": summary.answered,
        "failed": summary.errors + sum(n for s, n in summary.by_status.items() if s != "200"),
        "p50_ms": latency.p50 if latency else None,
        "p99_ms": latency.p99 if latency else None,
        "cpu_us_per_request": used / max(summary.answered, 1) * 1e6,
        "copies": {k: after.get(k, 0.0) - copied.get(k, 0.0) for k in after},
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark; print the figures; return them."""
    parser = argparse.ArgumentParser(prog="python -m bench.shadow", description=__doc__)
    parser.add_argument("--models", default=os.environ.get("PREDLOG_MODELS_DIR", "var/models"))
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the api")
    parser.add_argument("--rate", type=float, default=300.0, help="requests/s of the load")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds, alternating")
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    workdir = Path(tempfile.mkdtemp(prefix="predlog-bench-shadow-"))
    receiver = ForwardReceiver(keep=False)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    rounds: list[dict[str, Any]] = []
    try:
        with registry_store(workdir) as store:
            cmd = [
                sys.executable, "-m", "predlog", "api", "--port", str(port),
                "--workers", str(args.workers), "--models", args.models,
                "--forward", f"127.0.0.1:{receiver.port}", "--spool", str(workdir / "spool"),
                "--log-level", "warning", "--store", store,
                "--bundle-cache", str(workdir / "bundles"),
            ]  # fmt: skip
            with server(cmd, port, env) as proc:
                until_everywhere(base, args.workers, admin(base, "GET", "/models")["generation"])
                one_round(base, proc.pid, args)  # warm-up
                for i in range(args.rounds):
                    shadowed = i % 2 == 1
                    if shadowed:
                        body = version_bundle(Path(args.models), workdir, f"s{i}")
                        admin(base, "POST", "/models/iris/versions?mode=shadow", body)
                        until_everywhere(
                            base, args.workers, admin(base, "GET", "/models")["generation"]
                        )
                    measured = one_round(base, proc.pid, args)
                    rounds.append({"shadow": shadowed, **measured})
                    if shadowed:
                        admin(base, "POST", f"/models/iris/versions/s{i}/retire")
    finally:
        receiver.close()
        shutil.rmtree(workdir, ignore_errors=True)
    plain = [r for r in rounds if not r["shadow"]]
    shadow = [r for r in rounds if r["shadow"]]
    for r in rounds:
        print(
            f"{'shadow   ' if r['shadow'] else 'no shadow'}  p50 {r['p50_ms']:.2f} ms  "
            f"p99 {r['p99_ms']:.2f} ms  CPU {r['cpu_us_per_request']:.0f} us/req  "
            f"failed {r['failed']}  copies {r['copies']}"
        )

    def median(key: str, of: list[dict[str, Any]]) -> float:
        return float(statistics.median(r[key] for r in of))

    figures: dict[str, object] = {
        "rate": args.rate,
        "rounds": rounds,
        "p50_ms": {"plain": median("p50_ms", plain), "shadow": median("p50_ms", shadow)},
        "p99_ms": {"plain": median("p99_ms", plain), "shadow": median("p99_ms", shadow)},
        "cpu_ratio": median("cpu_us_per_request", shadow) / median("cpu_us_per_request", plain),
    }
    print(
        f"primary latency at {args.rate:g} req/s, no shadow vs shadow of every request: "
        f"p50 {figures['p50_ms']}, p99 {figures['p99_ms']} ms; api CPU per request "
        f"x{figures['cpu_ratio']:.2f} (the copy's inference included)"
    )
    return figures


if __name__ == "__main__":
    main()
