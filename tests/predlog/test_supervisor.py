"""The one-machine supervisor behind ``predlog run``, with real child processes."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from api.settings import ApiSettings
from dashboard.settings import DashboardSettings
from predlog.supervisor import ChildSpec, LocalStack, Supervisor
from sidecar.settings import SidecarSettings
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


def test_local_stack_starts_sidecar_before_api_before_dashboard_settings_in_env() -> None:
    sidecar = SidecarSettings(store_url="postgresql+psycopg://u:pw@h/db", http_port=24299)
    api = ApiSettings(forward="127.0.0.1:24224", workers=2)
    specs = LocalStack(sidecar, api, DashboardSettings(port=8599)).specs()
    assert [s.name for s in specs] == ["sidecar", "api", "dashboard"]
    assert [s.health_url for s in specs] == [
        "http://127.0.0.1:24299/healthz",
        "http://127.0.0.1:8000/health",
        "http://127.0.0.1:8599/_stcore/health",
    ]
    assert specs[1].argv[-2:] == ["predlog", "api"]
    assert specs[1].env["PREDLOG_FORWARD"] == "127.0.0.1:24224"
    assert specs[1].env["PREDLOG_API_WORKERS"] == "2"
    assert specs[0].env["PREDLOG_STORE_URL"] == "postgresql+psycopg://u:pw@h/db"
    assert not any("pw" in part for spec in specs for part in spec.argv)  # out of `ps`
    assert [s.name for s in LocalStack(sidecar, api).specs()] == ["sidecar", "api"]


def test_a_child_gets_its_env_on_top_of_ours(tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    seen = "os.environ['PREDLOG_X'] + str('PATH' in os.environ)"
    program = f"import os; open({str(out)!r}, 'w').write({seen})"
    child = ChildSpec(
        "child", [sys.executable, "-c", program], "http://127.0.0.1:1/", {"PREDLOG_X": "1"}
    )
    supervisor = Supervisor([child], start_timeout=20)
    assert supervisor.run() == 1  # it exits (never healthy), after writing what it saw
    assert out.read_text() == "1True"
