"""The model registry: hot deploys under load, and what following the registry costs.

1. CPU per request of ``predlog api`` serving from the registry in the store (a worker reads
   the generation once a second and routes through the live table) against the same api
   serving its bundle directory, under the same wrk load, rounds alternated. Target: at
   most 2% more.
2. Deploys under load: ``predlog load`` at a steady rate against api workers while versions
   are deployed (each one retiring the one before): the time from the admin call until
   every worker serves the new generation (p50, max; target under 2 s), and the requests
   that failed meanwhile (target 0).
3. Memory: the api's RSS (every worker) with the two demo versions, with more versions
   loaded (per version), and after many deploy/retire cycles (flat: nothing leaks).

    python -m bench.registry --models var/models --deploys 10 --cycles 50
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from api.registry.archive import pack
from bench.api import measure, server
from bench.ports import free_port
from bench.receiver import ForwardReceiver
from client import LoadSettings, run_load
from client.stats import Summary
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade


def admin(base: str, method: str, path: str, body: bytes | None = None) -> Any:
    """One admin API call; its JSON answer."""
    headers = {"content-type": "application/gzip"} if body is not None else {}
    request = urllib.request.Request(
        f"{base}/admin{path}", data=body, method=method, headers=headers
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def version_bundle(models: Path, into: Path, version: str) -> bytes:
    """The demo's iris/1 as another version, packed as the admin API takes it."""
    target = into / version
    shutil.copytree(models / "iris" / "1", target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["version"] = version
    (target / "manifest.json").write_text(json.dumps(manifest))
    return pack(target)


def until_everywhere(base: str, workers: int, generation: int, timeout: float = 30.0) -> float:
    """Seconds until every worker reports at least ``generation``."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        listed = admin(base, "GET", "/models")["workers"]
        if sum(w["generation"] >= generation for w in listed) >= workers:
            return time.perf_counter() - started
        time.sleep(0.02)
    raise RuntimeError(f"not every worker reached generation {generation} in {timeout} s")


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants, MiB."""
    root = psutil.Process(pid)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total / (1 << 20)


@contextlib.contextmanager
def registry_store(workdir: Path) -> Iterator[str]:
    url = f"sqlite:///{workdir / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url


def cpu_overhead(args: argparse.Namespace, env: dict[str, str], workdir: Path) -> dict[str, Any]:
    receiver = ForwardReceiver(keep=False)
    rounds = []
    try:
        with registry_store(workdir) as store:

            def run(registry: bool) -> dict[str, Any]:
                port = free_port()
                cmd = [
                    sys.executable, "-m", "predlog", "api", "--port", str(port),
                    "--workers", str(args.workers), "--models", args.models,
                    "--forward", f"127.0.0.1:{receiver.port}", "--spool", str(workdir / "spool"),
                    "--log-level", "warning", "--bundle-cache", str(workdir / "bundles"),
                ]  # fmt: skip
                if registry:
                    cmd += ["--store", store]
                name = "api from the registry" if registry else "api from its directory"
                return measure(name, cmd, port, "/predict", env, args)

            for i in range(args.rounds):
                if i % 2 == 0:
                    static, live = run(False), run(True)
                else:
                    live, static = run(True), run(False)
                rounds.append(
                    {
                        "static": static,
                        "registry": live,
                        "cpu_ratio": live["cpu_us_per_request"] / static["cpu_us_per_request"],
                    }
                )
    finally:
        receiver.close()
    return {"rounds": rounds, "cpu_ratio": statistics.median(r["cpu_ratio"] for r in rounds)}


def deploys(args: argparse.Namespace, env: dict[str, str], workdir: Path) -> dict[str, Any]:
    receiver = ForwardReceiver(keep=False)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        with registry_store(workdir) as store:
            cmd = [
                sys.executable, "-m", "predlog", "api", "--port", str(port),
                "--workers", str(args.workers), "--models", args.models,
                "--forward", f"127.0.0.1:{receiver.port}", "--spool", str(workdir / "spool2"),
                "--log-level", "warning", "--store", store,
                "--bundle-cache", str(workdir / "bundles2"),
            ]  # fmt: skip
            with server(cmd, port, env) as proc:
                until_everywhere(
                    base, args.workers, admin(base, "GET", "/models")["generation"], 90
                )
                rss_start = rss_mib(proc.pid)
                summaries: list[Summary] = []
                seconds = args.deploys * 3.0 + 5.0
                load = threading.Thread(
                    target=lambda: summaries.append(
                        run_load(
                            LoadSettings(url=base, rate=args.rate, duration=seconds), progress=None
                        )
                    )
                )
                load.start()
                time.sleep(2.0)
                live: list[float] = []
                previous: str | None = None
                for i in range(args.deploys):
                    body = version_bundle(Path(args.models), workdir / "deploys", f"d{i}")
                    started = time.perf_counter()
                    admin(base, "POST", "/models/iris/versions?weight=1", body)
                    generation = admin(base, "GET", "/models")["generation"]
                    until_everywhere(base, args.workers, generation)
                    live.append(time.perf_counter() - started)
                    if previous is not None:
                        admin(base, "POST", f"/models/iris/versions/{previous}/retire")
                    previous = f"d{i}"
                    time.sleep(1.0)
                load.join(timeout=seconds + 60)
                (summary,) = summaries
                failed = (
                    summary.errors
                    + summary.dropped
                    + sum(n for status, n in summary.by_status.items() if status != "200")
                )
                # memory: three more versions loaded (six online, the most allowed), then
                # many deploy/retire cycles
                rss_two = rss_mib(proc.pid)
                extra = []
                for i in range(3):
                    body = version_bundle(Path(args.models), workdir / "extra", f"m{i}")
                    admin(base, "POST", "/models/iris/versions?weight=0", body)
                    extra.append(f"m{i}")
                until_everywhere(base, args.workers, admin(base, "GET", "/models")["generation"])
                rss_more = rss_mib(proc.pid)
                for name in extra:
                    admin(base, "POST", f"/models/iris/versions/{name}/retire")
                rss_cycles = []
                for i in range(args.cycles):
                    body = version_bundle(Path(args.models), workdir / "cycles", f"c{i}")
                    admin(base, "POST", "/models/iris/versions?weight=1", body)
                    if previous is not None:
                        admin(base, "POST", f"/models/iris/versions/{previous}/retire")
                    previous = f"c{i}"
                    if i in (9, args.cycles - 1):
                        until_everywhere(
                            base, args.workers, admin(base, "GET", "/models")["generation"]
                        )
                        rss_cycles.append(rss_mib(proc.pid))
    finally:
        receiver.close()
    return {
        "deploys": args.deploys,
        "workers": args.workers,
        "rate": args.rate,
        "live_everywhere_s": [round(s, 3) for s in live],
        "live_p50_s": statistics.median(live),
        "live_max_s": max(live),
        "requests_sent": summary.sent,
        "requests_failed": failed,
        "rss_mib_start": round(rss_start, 1),
        "rss_mib_two_versions": round(rss_two, 1),
        "rss_mib_per_extra_version": round((rss_more - rss_two) / 3, 1),
        "cycles": args.cycles,
        "rss_mib_after_10_cycles": round(rss_cycles[0], 1),
        "rss_mib_after_all_cycles": round(rss_cycles[-1], 1),
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark; print the figures; return them."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.registry", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--models", default=os.environ.get("PREDLOG_MODELS_DIR", "var/models"))
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of the api")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds of wrk per server")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--rounds", type=int, default=6, help="rounds of the CPU comparison, alternating"
    )
    parser.add_argument(
        "--generator", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python"
    )
    parser.add_argument("--deploys", type=int, default=10)
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s during the deploys")
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    workdir = Path(tempfile.mkdtemp(prefix="predlog-bench-registry-"))
    try:
        figures: dict[str, object] = {
            "cpu": cpu_overhead(args, env, workdir),
            "deploys": deploys(args, env, workdir),
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    cpu = figures["cpu"]
    dep = figures["deploys"]
    assert isinstance(cpu, dict)
    assert isinstance(dep, dict)
    for r in cpu["rounds"]:
        print(
            f"CPU per request: registry {r['registry']['cpu_us_per_request']:.1f} us, "
            f"directory {r['static']['cpu_us_per_request']:.1f} us: {r['cpu_ratio']:.3f} x"
        )
    print(f"CPU ratio (median): {cpu['cpu_ratio']:.3f} x (target <= 1.02)")
    print(
        f"{dep['deploys']} deploys under {dep['rate']:g} req/s to {dep['workers']} workers: live "
        f"everywhere p50 {dep['live_p50_s']:.2f} s, max {dep['live_max_s']:.2f} s; "
        f"{dep['requests_failed']} of {dep['requests_sent']} requests failed"
    )
    print(
        f"RSS: {dep['rss_mib_two_versions']} MiB with 2 versions, "
        f"+{dep['rss_mib_per_extra_version']} MiB per version; after 10 / {dep['cycles']} "
        f"deploy+retire cycles {dep['rss_mib_after_10_cycles']} / "
        f"{dep['rss_mib_after_all_cycles']} MiB"
    )
    return figures


if __name__ == "__main__":
    main()
