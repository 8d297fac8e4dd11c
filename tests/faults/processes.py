"""The fault suite's processes: ``predlog api`` and ``predlog sidecar`` started, probed,
signalled and stopped, each on 127.0.0.1 and free ports, their logs kept."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from tests.support import free_ports

ROOT = Path(__file__).resolve().parents[2]
MODELS = Path(os.environ.get("PREDLOG_MODELS_DIR", ROOT / "var" / "models"))
STOP_TIMEOUT = 30.0


def predlog_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "predlog", *args]


def _get(url: str, timeout: float = 1.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``predicate`` until true; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, ValueError):
            if predicate():
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        time.sleep(interval)


class Proc:
    """One server process started from the ``predlog`` command, its output in a log file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.cmd = cmd
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=log, stderr=log)
        log.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send(self, sig: signal.Signals) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(sig)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Signal, wait; SIGKILL past ``timeout``. The exit code."""
        if self.proc is None:
            return 0
        self.send(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def kill(self) -> None:
        """SIGKILL the process and every process it started."""
        if self.alive():
            for child in psutil.Process(self.pid).children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
        self.stop(signal.SIGKILL)

    def tree_rss(self) -> int:
        """Resident memory of the process and its children, in bytes."""
        if not self.alive():
            return 0
        procs = [psutil.Process(self.pid)]
        procs += procs[0].children(recursive=True)
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total


class Sidecar(Proc):
    """``predlog sidecar`` on free ports."""

    def __init__(self, store: str, spool: Path, log_dir: Path, **env: str) -> None:
        self.port, self.http_port = free_ports(2)
        self.store = store
        cmd = predlog_command(
            "sidecar",
            "--port", str(self.port),
            "--http-port", str(self.http_port),
            "--store", store,
            "--spool", str(spool),
        )  # fmt: skip
        full_env = {
            **os.environ,
            "PREDLOG_SIDECAR_GAPS_INTERVAL": "1",
            "PREDLOG_SIDECAR_RETRY_MAX_DELAY": "1",
            **env,
        }
        super().__init__("sidecar", cmd, full_env, log_dir)

    def start(self, wait: bool = True) -> None:
        super().start()
        if wait:
            wait_until(lambda: _get(self.url("/healthz"))[0] == 200, 60, "sidecar healthy")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    def metric(self, name: str) -> float:
        """The sum of every sample of ``name`` on /metrics."""
        _, body = _get(self.url("/metrics"))
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total


class Api(Proc):
    """``predlog api`` with several uvicorn workers on a free port."""

    def __init__(
        self,
        forward: int,
        spool: Path,
        log_dir: Path,
        workers: int = 2,
        name: str = "api",
        drain: float = 1.0,
    ) -> None:
        """``drain``: seconds it drains on SIGTERM (the product's default is longer; the
        short scenarios stop it often, the rolling restart passes the default)."""
        (self.port,) = free_ports(1)
        cmd = predlog_command(
            "api",
            "--port", str(self.port),
            "--workers", str(workers),
            "--models", str(MODELS),
            "--forward", f"127.0.0.1:{forward}",
            "--spool", str(spool),
            "--log-level", "warning",
        )  # fmt: skip
        env = {
            **os.environ,
            "PREDLOG_API_RETRY_INTERVAL": "0.5",
            "PREDLOG_API_SHUTDOWN_DRAIN": str(drain),
        }
        super().__init__(name, cmd, env, log_dir)
        self.workers = workers

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> None:
        super().start()
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        wait_until(lambda: _get(self.url + "/health")[0] == 200, 90, f"{self.name} ready")
        wait_until(lambda: len(self.worker_pids()) == self.workers, 60, "api workers")

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (spawned children that run the app)."""
        if not self.alive():
            return []
        pids = []
        for child in psutil.Process(self.pid).children():
            with contextlib.suppress(psutil.NoSuchProcess):
                if "spawn_main" in " ".join(child.cmdline()):
                    pids.append(child.pid)
        return sorted(pids)
