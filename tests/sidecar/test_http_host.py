"""The sidecar's /healthz and /metrics bind their own address (the pod's, for Prometheus),
while the forward port stays where ``host`` says (loopback)."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

from tests.sidecar.helpers import running, settings


def own_address() -> str:
    """An address of this machine other than loopback (where the host has one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route
        except OSError:  # no route at all: loopback is all there is
            return "127.0.0.1"
        return str(probe.getsockname()[0])


def test_metrics_listen_on_the_http_host_and_records_on_the_host(
    sqlite_url: str, tmp_path: Path
) -> None:
    config = settings(sqlite_url, tmp_path / "spool", http_host="0.0.0.0")
    with running(config) as runner:
        sidecar = runner.sidecar
        http = sidecar.http_port
        forward = sidecar.port
        for host in ("127.0.0.1", own_address()):
            with urllib.request.urlopen(f"http://{host}:{http}/metrics", timeout=10) as answer:
                assert answer.status == 200
                assert b"predlog_sidecar" in answer.read()
        address = own_address()
        if address != "127.0.0.1":  # the forward port is not on the machine's address
            with socket.socket() as client:
                client.settimeout(5)
                assert client.connect_ex((address, forward)) != 0
