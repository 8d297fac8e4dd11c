"""Open Inference Protocol v2 infer against POST /predict on the same model, in one run.

One predlog api (every request logged to a forward receiver that decodes each record, as in
``bench.api``) takes, in turn, wrk's load on ``POST /predict`` with one row, on
``POST /v2/models/iris/infer`` with the same row as a JSON FP32 tensor, and on the same infer
with the tensor and the outputs in the binary tensor extension. The server's CPU time per
request (user + system of its process tree) is compared round by round, the cases back to
back in alternating order; the figure is the median of the rounds' ratios. Target: infer
within 1.2 x /predict.

    python -m bench.oip --models var/models --duration 4 --rounds 7
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.api import BODY, WARM_UP, run_wrk, server, tree_cpu, warm_up
from bench.ports import free_port
from bench.receiver import ForwardReceiver

ROW = [6.7, 3.0, 5.2, 2.3]
JSON_INFER = orjson.dumps(
    {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": ROW}]}
)
_HEADER = orjson.dumps(
    {
        "inputs": [
            {"name": "input", "shape": [1, 4], "datatype": "FP32",
             "parameters": {"binary_data_size": 16}}
        ],
        "parameters": {"binary_data_output": True},
    }
)  # fmt: skip
BINARY_INFER = _HEADER + struct.pack("<4f", *ROW)


def lua_string(raw: bytes) -> str:
    """``raw`` as a Lua string literal (decimal escapes: any byte is safe)."""
    return '"' + "".join(f"\\{b}" for b in raw) + '"'


def script(body: bytes, headers: dict[str, str]) -> str:
    """A wrk script that POSTs ``body`` with ``headers``."""
    lines = ['wrk.method = "POST"', f"wrk.body = {lua_string(body)}"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    return "\n".join(lines) + "\n"


def raw_request(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


JSON_HEADERS = {"Content-Type": "application/json"}
CASES: dict[str, tuple[str, bytes, dict[str, str]]] = {
    "/predict": ("/predict", BODY, JSON_HEADERS),
    "oip json": ("/v2/models/iris/infer", JSON_INFER, JSON_HEADERS),
    "oip binary": (
        "/v2/models/iris/infer",
        BINARY_INFER,
        {
            "Content-Type": "application/octet-stream",
            "Inference-Header-Content-Length": str(len(_HEADER)),
        },
    ),
}


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark; print a table; return the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.oip", description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=os.environ.get("PREDLOG_MODELS_DIR", "var/models"))
    parser.add_argument("--duration", type=float, default=4.0, help="seconds of load per case")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=7, help="rounds over the cases")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("bench.oip needs wrk (make system-deps)")

    receiver = ForwardReceiver(keep=False)
    spool = Path(tempfile.mkdtemp(prefix="predlog-bench-spool-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    port = free_port()
    cmd = [
        sys.executable, "-m", "predlog", "api", "--port", str(port), "--workers", "1",
        "--models", args.models, "--forward", f"127.0.0.1:{receiver.port}",
        "--spool", str(spool), "--log-level", "warning",
    ]  # fmt: skip
    rows: list[dict[str, Any]] = []
    answered = 0
    try:
        with server(cmd, port, env) as proc:
            for path, body, headers in CASES.values():
                warm_up(port, path, WARM_UP, raw_request(port, path, body, headers))
                answered += WARM_UP
            for n in range(args.rounds):
                order = list(CASES) if n % 2 == 0 else list(reversed(CASES))
                for name in order:
                    path, body, headers = CASES[name]
                    before, started = tree_cpu(proc.pid), time.perf_counter()
                    load = run_wrk(port, path, args.duration, args.connections, 1,
                                   script(body, headers))  # fmt: skip
                    elapsed = time.perf_counter() - started
                    cpu = tree_cpu(proc.pid) - before
                    answered += int(load["requests"])
                    rows.append({"case": name, "round": n + 1, **load,
                                 "throughput_rps": load["requests"] / elapsed,
                                 "cpu_us_per_request": cpu / load["requests"] * 1e6})  # fmt: skip
        time.sleep(0.5)
        records = receiver.count
    finally:
        receiver.close()
        shutil.rmtree(spool, ignore_errors=True)

    def median_cpu(case: str) -> float:
        return float(statistics.median(r["cpu_us_per_request"] for r in rows if r["case"] == case))

    def ratio(case: str) -> float:
        """The median over rounds of the case's CPU per request / /predict's in that round
        (cases measured back to back: the machine's load moves both alike)."""
        by_round = {(r["round"], r["case"]): r["cpu_us_per_request"] for r in rows}
        return float(
            statistics.median(
                by_round[(n, case)] / by_round[(n, "/predict")] for n in range(1, args.rounds + 1)
            )
        )

    figures: dict[str, object] = {
        "connections": args.connections,
        "duration_s": args.duration,
        "rounds": rows,
        "cpu_us_per_request": {case: median_cpu(case) for case in CASES},
        "json_cpu_ratio": ratio("oip json"),
        "binary_cpu_ratio": ratio("oip binary"),
        "records_received": records,
        "requests_counted": answered,
        "failed": sum(int(r["failed"]) for r in rows),
    }
    print(f"wrk, {args.connections} connections, {args.duration:g}s per case and round, "
          f"{args.rounds} rounds, 1 worker, every request logged")  # fmt: skip
    print(f"{'case':<14}{'round':>6}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'CPU us/req':>12}")
    for r in rows:
        print(f"{r['case']:<14}{r['round']:>6}{r['throughput_rps']:>9.0f}{r['p50_ms']:>8.2f}"
              f"{r['p99_ms']:>8.2f}{r['cpu_us_per_request']:>12.1f}")  # fmt: skip
    print(f"CPU per request, medians: {figures['cpu_us_per_request']}")
    print(f"infer / predict, median of the rounds' ratios: JSON x{figures['json_cpu_ratio']:.2f}, "
          f"binary x{figures['binary_cpu_ratio']:.2f} (target <= 1.2); records {records} for "
          f"{answered} counted requests; failed {figures['failed']}")  # fmt: skip
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
