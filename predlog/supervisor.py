"""Runs the parts of predlog as child processes on one machine (``predlog run``).

Children start in dependency order, each waited for until its health URL answers;
they stop in reverse order, so the api stops sending before the sidecar drains.
If any child exits on its own, the others are stopped and the exit is reported.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

from api.settings import ApiSettings
from dashboard.settings import DashboardSettings
from sidecar.settings import SidecarSettings


@dataclass(frozen=True)
class ChildSpec:
    """One part to run: its name, command line, URL that answers once it is up, extra env."""

    name: str
    argv: list[str]
    health_url: str
    env: Mapping[str, str] = field(default_factory=dict)


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
        process = subprocess.Popen(  # noqa: S603 - our own argv
            spec.argv, env={**os.environ, **spec.env}, start_new_session=True
        )
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
    """The parts of a one-machine predlog, each with the settings it is started with.

    The settings travel to each child as environment variables (``to_env``), which its
    command reads as it reads a user's: nothing is restated here, and the store URL, which
    may hold a password, stays out of ``ps``.
    """

    sidecar: SidecarSettings
    api: ApiSettings
    dashboard: DashboardSettings | None = None

    def specs(self) -> list[ChildSpec]:
        """The children in start order: sidecar, api, dashboard."""
        sidecar, api, dashboard = self.sidecar, self.api, self.dashboard
        children = [
            ("sidecar", sidecar.to_env(), f"{sidecar.host}:{sidecar.http_port}/healthz"),
            ("api", api.to_env(), f"{api.host}:{api.port}/health"),
        ]
        if dashboard is not None:
            children.append(
                (
                    "dashboard",
                    dashboard.to_env(),
                    f"{dashboard.host}:{dashboard.port}/_stcore/health",
                )
            )
        predlog = [sys.executable, "-m", "predlog"]
        return [
            ChildSpec(name, [*predlog, name], f"http://{url}", env) for name, env, url in children
        ]
