"""The load generator over real HTTP, against the minimal responder in its own process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator

import orjson
import pytest
from click.testing import CliRunner

from client import LoadError, LoadSettings, run_load, run_load_async
from client.responder import IRIS_STATS
from predlog.commands.load import command
from tests.support import free_port, port_open, wait_for

Start = Callable[..., str]


@pytest.fixture
def responder() -> Iterator[Start]:
    """Start ``python -m client.responder`` on a free port; its base URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> str:
        port = free_port()
        cmd = [sys.executable, "-m", "client.responder", "--port", str(port), *args]
        processes.append(subprocess.Popen(cmd))
        wait_for(lambda: port_open(port))
        return f"http://127.0.0.1:{port}"

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def test_counts_statuses_and_outliers(responder: Start) -> None:
    url = responder("--error-every", "10")
    settings = LoadSettings(url=url, rate=400, count=600, outlier_fraction=0.2, seed=11)
    summary = run_load(settings, progress=None)
    assert summary.scheduled == summary.sent == 600
    assert summary.dropped == 0
    assert summary.errors == 0
    assert summary.answered == 600
    assert summary.by_status == {"200": 540, "503": 60}
    assert summary.latency_ms is not None
    assert 0 < summary.latency_ms.p50 <= summary.latency_ms.p99 <= summary.latency_ms.max
    # The responder flags exactly the rows outside the training range; 503s flag nothing.
    assert 80 < summary.outliers_sent < 160
    assert 0 < summary.outliers_flagged <= summary.outliers_sent


def test_every_outlier_is_flagged_when_all_are_answered(responder: Start) -> None:
    summary = run_load(
        LoadSettings(url=responder(), rate=500, count=500, outlier_fraction=0.3, seed=3),
        progress=None,
    )
    assert summary.by_status == {"200": 500}
    assert summary.outliers_flagged == summary.outliers_sent > 0


def test_a_slow_server_does_not_slow_the_sender(responder: Start) -> None:
    # Each answer takes 3 s; the whole schedule takes 0.5 s. A closed-loop sender would send
    # only as many as it may have in flight; an open-loop one keeps sending on schedule and
    # counts what the in-flight cap stops as dropped, never silently.
    url = responder("--delay", "3")
    settings = LoadSettings(url=url, rate=100, count=50, concurrency_limit=10, timeout=20)
    summary = run_load(settings, progress=None)
    assert summary.sent == 10
    assert summary.dropped == 40
    assert summary.answered == 10
    assert not summary.rate_within_tolerance
    assert summary.latency_ms is not None
    assert summary.latency_ms.p50 >= 3000


def test_unanswered_requests_are_errors(responder: Start) -> None:
    url = responder("--delay", "5")
    settings = LoadSettings(url=url, rate=100, count=20, timeout=0.5)
    summary = run_load(settings, progress=None)
    assert summary.sent == 20
    assert summary.answered == 0
    assert summary.errors_by_kind == {"timeout": 20}


def test_no_server_is_a_clear_error() -> None:
    with pytest.raises(LoadError, match="/metadata failed"):
        run_load(LoadSettings(url=f"http://127.0.0.1:{free_port()}", count=1), progress=None)


def test_cli_prints_json_and_progress(responder: Start) -> None:
    url = responder()
    result = CliRunner().invoke(
        command,
        ["--url", url, "--rate", "200", "--duration", "1.5s", "--json", "--version", "2"],
        env={"PREDLOG_LOAD_OUTLIER_FRACTION": "0.5"},
    )
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    assert summary["scheduled"] == 300
    assert summary["by_status"] == {"200": 300}
    assert summary["outliers_flagged"] == summary["outliers_sent"] > 0
    assert "sent " in result.stderr
    text = CliRunner().invoke(command, ["--url", url, "--count", "5", "--no-progress"])
    assert text.exit_code == 0, text.output
    assert "answered   5 (200: 5)" in text.stdout


def test_cli_refuses_both_bounds() -> None:
    result = CliRunner().invoke(command, ["--count", "5", "--duration", "5s"])
    assert result.exit_code == 2
    assert "not both" in result.output


def test_refused_connections_are_counted_by_kind() -> None:
    # Rows from given statistics: the generator needs no /metadata and meets a closed port.
    settings = LoadSettings(url=f"http://127.0.0.1:{free_port()}", rate=200, count=40)
    summary = asyncio.run(run_load_async(settings, stats=IRIS_STATS))
    assert summary.sent == 40
    assert summary.answered == 0
    assert summary.errors == 40
    assert list(summary.errors_by_kind) == ["ClientConnectorError"]
    assert summary.latency_ms is None
