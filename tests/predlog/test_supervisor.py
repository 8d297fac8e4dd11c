"""The one-machine supervisor behind ``predlog run``, with real child processes."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from predlog.supervisor import ChildSpec, LocalStack, Supervisor
from tests.support import free_port, free_ports, port_open, wait_for


def http_server(name: str, port: int, directory: Path) -> ChildSpec:
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
            "--directory", str(directory)]  # fmt: skip
    return ChildSpec(name, argv, f"http://127.0.0.1:{port}/")


def test_starts_children_in_order_and_stops_them_on_sigterm(tmp_path: Path) -> None:
    ports = free_ports(2)
    supervisor = Supervisor([http_server(f"child{i}", p, tmp_path) for i, p in enumerate(ports)])
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(supervisor.run()))

    # Signal handlers can only be installed from the main thread: run there, signal from a thread.
    def stop_when_up() -> None:
        wait_for(lambda: all(port_open(p) for p in ports))
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=stop_when_up)
    killer.start()
    runner.run()
    killer.join()
    assert codes == [0]
    assert not any(port_open(p) for p in ports)


def test_a_child_that_exits_stops_the_others_and_fails(tmp_path: Path) -> None:
    port = free_port()
    crasher = ChildSpec(
        "crasher", [sys.executable, "-c", "raise SystemExit(3)"], "http://127.0.0.1:1/"
    )
    supervisor = Supervisor([http_server("server", port, tmp_path), crasher], start_timeout=20)
    assert supervisor.run() == 1
    assert not port_open(port)


def test_local_stack_starts_sidecar_before_api_before_dashboard() -> None:
    stack = LocalStack("127.0.0.1", 8000, 24224, 24225, 8501, 2, "m", "sqlite:///s.db", "spool")
    specs = stack.specs()
    assert [s.name for s in specs] == ["sidecar", "api", "dashboard"]
    api = specs[1].argv
    assert api[api.index("--forward") + 1] == "127.0.0.1:24224"
    assert api[api.index("--workers") + 1] == "2"
    assert [s.name for s in LocalStack("h", 1, 2, 3, 4, 1, "m", "s", "p", False).specs()] == [
        "sidecar",
        "api",
    ]
