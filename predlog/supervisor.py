"""Runs the parts of predlog as child processes on one machine (``predlog run``).

Children start in dependency order, each waited for until its health URL answers;
they stop in reverse order, so the api stops sending before the sidecar drains.
If any child exits on its own, the others are stopped and the exit is reported.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType


@dataclass(frozen=True)
class ChildSpec:
    """One part to run: its name, its command line and the URL that answers once it is up."""

    name: str
    argv: list[str]
    health_url: str


class ChildFailedError(RuntimeError):
    """A child exited before it was asked to, or never became healthy."""


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own http URL
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError):
        return False


class Supervisor:
    """Starts children in order, watches them, and stops them in reverse order."""

    def __init__(
        self, specs: Sequence[ChildSpec], start_timeout: float = 60.0, stop_timeout: float = 30.0
    ) -> None:
        self._specs = list(specs)
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._children: list[tuple[ChildSpec, subprocess.Popen[bytes]]] = []
        self._stopping = False

    def run(self) -> int:
        """Start everything, wait for a signal or a child's exit, stop everything; an exit code."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            for spec in self._specs:
                self._start(spec)
            print("predlog: all parts are up; Ctrl-C stops them", file=sys.stderr, flush=True)
            while not self._stopping:
                for spec, process in self._children:
                    if process.poll() is not None:
                        raise ChildFailedError(f"{spec.name} exited with code {process.returncode}")
                time.sleep(0.2)
            return 0
        except ChildFailedError as error:
            print(f"predlog: {error}; stopping the other parts", file=sys.stderr, flush=True)
            return 1
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        """Stop every running child, last started first: SIGTERM, then SIGKILL after the timeout."""
        while self._children:
            spec, process = self._children.pop()
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(self._stop_timeout)
                except subprocess.TimeoutExpired:
                    print(f"predlog: {spec.name} did not stop in time; killing it", file=sys.stderr)
                    process.kill()
                    process.wait()

    def _start(self, spec: ChildSpec) -> None:
        print(f"predlog: starting {spec.name}: {' '.join(spec.argv)}", file=sys.stderr, flush=True)
        # A session of its own: a Ctrl-C in the terminal reaches only us, so we choose the order.
        process = subprocess.Popen(spec.argv, start_new_session=True)  # noqa: S603 - our own argv
        self._children.append((spec, process))
        deadline = time.monotonic() + self._start_timeout
        while not _healthy(spec.health_url):
            if self._stopping:
                return
            if process.poll() is not None:
                raise ChildFailedError(f"{spec.name} exited with code {process.returncode}")
            if time.monotonic() > deadline:
                raise ChildFailedError(f"{spec.name} not healthy at {spec.health_url} in time")
            time.sleep(0.2)
        print(f"predlog: {spec.name} is up ({spec.health_url})", file=sys.stderr, flush=True)

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self._stopping = True


@dataclass(frozen=True)
class LocalStack:
    """Where the parts of a one-machine predlog listen and keep their files."""

    host: str
    api_port: int
    sidecar_port: int
    sidecar_http_port: int
    dashboard_port: int
    workers: int
    models: str
    store: str
    spool: str
    dashboard: bool = True

    def specs(self) -> list[ChildSpec]:
        """The children in start order: sidecar, api, dashboard."""
        predlog = [sys.executable, "-m", "predlog"]
        base = f"http://{self.host}"
        specs = [
            ChildSpec(
                "sidecar",
                [
                    *predlog,
                    "sidecar",
                    "--host",
                    self.host,
                    "--port",
                    str(self.sidecar_port),
                    "--http-port",
                    str(self.sidecar_http_port),
                    "--store",
                    self.store,
                    "--spool",
                    self.spool,
                ],
                f"{base}:{self.sidecar_http_port}/healthz",
            ),
            ChildSpec(
                "api",
                [
                    *predlog,
                    "api",
                    "--host",
                    self.host,
                    "--port",
                    str(self.api_port),
                    "--workers",
                    str(self.workers),
                    "--models",
                    self.models,
                    "--forward",
                    f"{self.host}:{self.sidecar_port}",
                    "--spool",
                    self.spool,
                ],
                f"{base}:{self.api_port}/health",
            ),
        ]
        if self.dashboard:
            specs.append(
                ChildSpec(
                    "dashboard",
                    [
                        *predlog,
                        "dashboard",
                        "--host",
                        self.host,
                        "--port",
                        str(self.dashboard_port),
                        "--store",
                        self.store,
                        "--models",
                        self.models,
                    ],
                    f"{base}:{self.dashboard_port}/_stcore/health",
                )
            )
        return specs
