"""``predlog api`` as a real process: two workers, metrics over both, a clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from predlog.cli import main as predlog
from sidecar.record import validate_record
from tests.api.fixtures import ForwardReceiver
from tests.support import free_port, wait_for

ROW = {"data": [[6.7, 3.0, 5.2, 2.3]]}


def test_help_lists_every_flag_with_its_environment_variable() -> None:
    result = CliRunner().invoke(predlog, ["api", "--help"])
    assert result.exit_code == 0
    for flag, env in [
        ("--host", "PREDLOG_API_HOST"),
        ("--port", "PREDLOG_API_PORT"),
        ("--workers", "PREDLOG_API_WORKERS"),
        ("--models", "PREDLOG_MODELS_DIR"),
        ("--forward", "PREDLOG_FORWARD"),
        ("--spool", "PREDLOG_SPOOL_DIR"),
        ("--weights", "PREDLOG_API_WEIGHTS"),
    ]:
        assert flag in result.output
        assert env in result.output


@pytest.fixture
def api_process(
    models_dir: Path, tmp_path: Path, receiver: ForwardReceiver
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "predlog", "api", "--port", str(port), "--workers", "2",
            "--models", str(models_dir), "--forward", f"127.0.0.1:{receiver.port}",
            "--spool", str(tmp_path / "spool"), "--log-level", "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: _healthy(port) or proc.poll() is not None, timeout=120, interval=0.2)
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_two_workers_metrics_and_sigterm(
    api_process: tuple[subprocess.Popen[bytes], int], receiver: ForwardReceiver
) -> None:
    proc, port = api_process
    url = f"http://127.0.0.1:{port}"
    sent = 0
    # a new connection per request, until both workers have answered (the kernel spreads them)
    while sent < 40 or len({r["pid"] for r in receiver.records}) < 2:
        assert sent < 400, "only one worker ever answered"
        response = httpx.post(f"{url}/predict", json=ROW, timeout=10)
        assert response.status_code == 200
        sent += 1
        if sent % 20 == 0:
            wait_for(lambda n=sent: len(receiver.records) == n)  # type: ignore[misc]
    wait_for(lambda: len(receiver.records) == sent)

    text = httpx.get(f"{url}/metrics", timeout=10).text
    total = sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "predlog_api_requests_total" and s.labels["endpoint"] == "/predict"
    )
    assert total == sent  # both workers' counts, whichever answered the scrape
    records_sent = [
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "predlog_api_records_total" and s.labels["outcome"] == "sent"
    ]
    assert records_sent == [sent]

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    seqs: dict[int, list[int]] = defaultdict(list)
    for raw in receiver.records:
        record = validate_record(raw)
        seqs[record.pid].append(record.seq)
    assert len(seqs) == 2
    for pid_seqs in seqs.values():
        assert sorted(pid_seqs) == list(range(1, len(pid_seqs) + 1))
