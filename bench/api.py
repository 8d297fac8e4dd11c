"""POST /predict with every request logged, against a no-op FastAPI endpoint, in one run.

Both servers run under the same uvicorn settings (uvloop, httptools, no access log, same
number of workers) and take the same load: wrk with a Lua script for the POST (Debian's
``wrk``, from ``make system-deps``), or, when wrk is missing, an in-Python keep-alive load
generator with the same connections and duration. The api logs every request to a
forward-protocol receiver in this process that decodes every record (``bench.receiver``),
and the run checks that records received == requests answered. The no-op endpoint reads the body and
parses it with orjson, as the api does, and answers a constant.

Figures: throughput, p50 and p99 latency, and server CPU time per request (user + system of
the server's process tree, psutil, before/after, divided by requests), and the ratios
api / no-op. Targets: CPU per request <= 1.4 x, throughput >= 0.7 x.

    python -m bench.api --models var/models --duration 10 --workers 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil
from fastapi import FastAPI, Request, Response

from bench.ports import free_port
from bench.receiver import ForwardReceiver

BODY = b'{"data": [[6.7, 3.0, 5.2, 2.3]]}'
UVICORN_FLAGS = ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]


def noop_app() -> FastAPI:
    """The baseline: a FastAPI endpoint that reads and parses the same body, then answers."""
    app = FastAPI()

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        payload = orjson.loads(await request.body())
        return Response(
            b'{"ok":true,"rows":%d}' % len(payload["data"]), media_type="application/json"
        )

    return app


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} not ready in {timeout}s")


@contextlib.contextmanager
def server(cmd: list[str], port: int, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(port, proc)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants."""
    total = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


WARM_UP = 200
"""Requests sent to each server before it is measured."""


def warm_up(port: int, path: str, n: int = WARM_UP, request: bytes | None = None) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        request = request or post_request(port, path)
        reader = sock.makefile("rb")
        for _ in range(n):
            sock.sendall(request)
            read_response(reader)


def post_request(port: int, path: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY


def read_response(reader: Any) -> int:
    status = int(reader.readline().split()[1])
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    reader.read(length)
    return status


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '%s'
wrk.headers["Content-Type"] = "application/json"
"""


def _wrk_seconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def run_wrk(
    port: int, path: str, duration: float, connections: int, threads: int, script: str = ""
) -> dict[str, float]:
    """wrk's figures for ``duration`` seconds of POSTs (``script``: a Lua request script of
    one's own; default: ``BODY`` as JSON)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script or WRK_SCRIPT % BODY.decode())
        script = fh.name
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{duration:g}s",
                "--latency",
                "-s",
                script,
                f"http://127.0.0.1:{port}{path}",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration + 60,
        ).stdout
    finally:
        os.unlink(script)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    return {
        "requests": requests,
        "failed": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",  # type: ignore[dict-item]
        "p50_ms": _wrk_seconds(lat["50"]) * 1000,
        "p99_ms": _wrk_seconds(lat["99"]) * 1000,
    }


async def _python_load(port: int, path: str, duration: float, connections: int) -> dict[str, float]:
    request = post_request(port, path)
    latencies: list[float] = []
    failed = 0
    stop = time.monotonic() + duration

    async def one_connection() -> None:
        nonlocal failed
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.monotonic() < stop:
            started = time.perf_counter()
            writer.write(request)
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            failed += status >= 300
        writer.close()

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    latencies.sort()
    return {
        "requests": len(latencies),
        "failed": failed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }


def measure(
    name: str,
    cmd: list[str],
    port: int,
    path: str,
    env: dict[str, str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    with server(cmd, port, env) as proc:
        warm_up(port, path)
        cpu_before = tree_cpu(proc.pid)
        started = time.perf_counter()
        if args.generator == "wrk":
            load = run_wrk(port, path, args.duration, args.connections, args.threads)
        else:
            load = asyncio.run(_python_load(port, path, args.duration, args.connections))
        elapsed = time.perf_counter() - started
        cpu = tree_cpu(proc.pid) - cpu_before
    requests = load["requests"]
    return {
        "server": name,
        "requests": requests,
        "failed": load["failed"],
        "throughput_rps": requests / elapsed,
        "p50_ms": load["p50_ms"],
        "p99_ms": load["p99_ms"],
        "cpu_us_per_request": cpu / requests * 1e6 if requests else float("nan"),
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark; print a table; return the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=os.environ.get("PREDLOG_MODELS_DIR", "var/models"))
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per server")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of both servers")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=2, help="noop/api pairs, order alternated")
    parser.add_argument(
        "--query", default="", help='query string for the api, e.g. "version=1" (diagnosis)'
    )
    parser.add_argument(
        "--generator", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python"
    )
    args = parser.parse_args(argv)

    receiver = ForwardReceiver(keep=False)
    spool = Path(tempfile.mkdtemp(prefix="predlog-bench-spool-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    api_path = f"/predict?{args.query}" if args.query else "/predict"

    def run_noop() -> dict[str, Any]:
        port = free_port()
        cmd = [
            sys.executable, "-m", "uvicorn", "bench.api:noop_app", "--factory",
            "--port", str(port), "--workers", str(args.workers), *UVICORN_FLAGS,
            "--log-level", "warning",
        ]  # fmt: skip
        return measure("no-op FastAPI", cmd, port, "/predict", env, args)

    def run_api() -> dict[str, Any]:
        port = free_port()
        cmd = [
            sys.executable, "-m", "predlog", "api", "--port", str(port),
            "--workers", str(args.workers), "--models", args.models,
            "--forward", f"127.0.0.1:{receiver.port}", "--spool", str(spool),
            "--log-level", "warning",
        ]  # fmt: skip
        return measure("predlog api (logging on)", cmd, port, api_path, env, args)

    rounds: list[dict[str, Any]] = []
    try:
        for i in range(args.rounds):
            # alternate the order, so that neither server always runs on a warmer machine
            if i % 2 == 0:
                noop, api = run_noop(), run_api()
            else:
                api, noop = run_api(), run_noop()
            rounds.append(
                {
                    "noop": noop,
                    "api": api,
                    "cpu_ratio": api["cpu_us_per_request"] / noop["cpu_us_per_request"],
                    "throughput_ratio": api["throughput_rps"] / noop["throughput_rps"],
                }
            )
        time.sleep(0.5)  # the api flushed at shutdown; let the receiver decode the tail
        records = receiver.count
        spooled = sum(1 for _ in (spool / "api").glob("*.msgpack"))
    finally:
        receiver.close()
        shutil.rmtree(spool, ignore_errors=True)

    answered = sum(r["api"]["requests"] + WARM_UP for r in rounds)
    figures: dict[str, object] = {
        "generator": args.generator,
        "workers": args.workers,
        "connections": args.connections,
        "duration_s": args.duration,
        "rounds": rounds,
        "cpu_ratio": statistics.median(r["cpu_ratio"] for r in rounds),
        "throughput_ratio": statistics.median(r["throughput_ratio"] for r in rounds),
        # wrk does not count the requests still in flight when it stops: up to one per
        # connection per round more records than counted requests
        "records_received": records,
        "requests_counted": answered,
        "records_complete": answered <= records <= answered + args.connections * args.rounds,
        "spool_files": spooled,
    }
    print(
        f"load: {args.generator}, {args.connections} connections, {args.duration:g}s per server "
        f"and round, {args.rounds} round(s), {args.workers} worker(s); the api logs every "
        "request to a forward receiver that decodes each record"
    )
    print(f"{'server':<26}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>12}{'failed':>8}")
    for n, r in enumerate(rounds, 1):
        for row in (r["noop"], r["api"]):
            print(
                f"{row['server']:<26}{row['throughput_rps']:>10.0f}{row['p50_ms']:>9.2f}"
                f"{row['p99_ms']:>9.2f}{row['cpu_us_per_request']:>12.1f}{row['failed']:>8}"
            )
        print(
            f"  round {n}: CPU per request x{r['cpu_ratio']:.2f}, "
            f"throughput x{r['throughput_ratio']:.2f}"
        )
    print(
        f"ratios api/no-op (median of rounds): CPU per request {figures['cpu_ratio']:.2f} "
        f"(target <= 1.4), throughput {figures['throughput_ratio']:.2f} (target >= 0.7)"
    )
    print(
        f"records received: {records} for {answered} counted requests (incl. warm-up); "
        f"complete: {figures['records_complete']}; api spool files: {spooled}"
    )
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
