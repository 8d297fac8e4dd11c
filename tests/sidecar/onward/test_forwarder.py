"""Onward forwarding against an independent forward-protocol server (fluentbit-server-py
from PyPI: Debian packages neither Fluentd nor Fluent Bit), and against another predlog
sidecar for the acks: every record arrives, an aggregator down for a while loses nothing
(at least once, across a restart too), and the sidecar's own store path goes on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import msgpack
import pytest
from fluent.sender import FluentSender
from fluentbit_server.fluentbit_request_handler import FluentbitRequestHandler
from fluentbit_server.fluentbit_server import FluentbitServer
from fluentbit_server.fluentbit_transport import FluentbitTransport

from sidecar.onward.client import AggregatorClient, chunk_message, new_chunk_id
from sidecar.record import TAG
from sidecar.spool.format import FORWARD_CHECKPOINT, SEGMENT_SUFFIX
from tests.records import make_record
from tests.sidecar.helpers import count_rows, metric, running, settings
from tests.support import free_port, wait_for


class _Server(FluentbitServer):  # type: ignore[misc]
    allow_reuse_address = True  # restarted on the same port in these tests


class Aggregator:
    """fluentbit-server-py on a fixed port, in a thread; stopped and started at will."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.events: list[Any] = []
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def _collect(self, event: Any) -> None:
        with self._lock:
            self.events.append(event)

    def start(self) -> None:
        transport = partial(FluentbitTransport, callback=self._collect, buffer_size=64 << 20)
        self._server = _Server(("127.0.0.1", self.port), FluentbitRequestHandler, transport)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.socket.close()
            assert self._thread is not None
            self._thread.join(10)
            self._server = None

    def job_ids(self) -> list[str]:
        with self._lock:
            return [event.record[b"job_id"].decode() for event in self.events]

    def records(self) -> list[dict[str, Any]]:
        """The events' records as the server decoded them (bytes), made plain."""
        with self._lock:
            raw = [event.record for event in self.events]
        return [msgpack.unpackb(msgpack.packb(r, use_bin_type=False), raw=False) for r in raw]


@pytest.fixture
def aggregator() -> Iterator[Aggregator]:
    server = Aggregator(free_port())
    yield server
    server.stop()


def send(port: int, first: int, count: int) -> list[str]:
    """Records ``first`` .. ``first + count - 1`` through the real fluent-logger client."""
    sender = FluentSender("predlog", host="127.0.0.1", port=port)
    job_ids = []
    try:
        for n in range(first, first + count):
            record = make_record(n, seq=n)
            assert sender.emit_with_time("prediction", record.event_time, record.to_wire())
            job_ids.append(record.job_id)
    finally:
        sender.close()
    return job_ids


def test_every_record_arrives_as_stored(
    sqlite_url: str, tmp_path: Path, aggregator: Aggregator
) -> None:
    aggregator.start()
    config = settings(
        sqlite_url,
        tmp_path,
        writer_process=False,
        forward_to=f"127.0.0.1:{aggregator.port}",
        forward_require_ack=False,  # this server sends no acks: a closed connection counts
        forward_chunk_records=40,
        payload_sampling="iris=0.5",
    )
    with running(config) as runner:
        sent = send(runner.port, 1, 300)
        wait_for(lambda: len(aggregator.job_ids()) >= 300 and count_rows(sqlite_url) == 300)
        assert metric(runner, "predlog_sidecar_forward_records_total") >= 300
    assert sorted(set(aggregator.job_ids())) == sorted(sent)
    by_job = {r["job_id"]: r for r in aggregator.records()}
    assert set(by_job) == set(sent)
    original = {make_record(n, seq=n).job_id: make_record(n, seq=n) for n in range(1, 301)}
    dropped = 0
    for job_id, got in by_job.items():
        want = original[job_id].to_wire()
        if got["inputs"] is None:  # sampled out, as in the store
            dropped += 1
            want["inputs"] = None
        assert got == want
    assert 0 < dropped < 300


def test_an_aggregator_down_for_a_while_loses_nothing(
    store_url: str, tmp_path: Path, aggregator: Aggregator
) -> None:
    """Down at the start, a sidecar restart meanwhile, then up: everything arrives."""
    config = settings(
        store_url,
        tmp_path,
        segment_bytes=4096,  # many segments: the spool must keep them for the forwarder
        forward_to=f"127.0.0.1:{aggregator.port}",
        forward_require_ack=False,
        forward_timeout=1.0,
        forward_chunk_records=50,
        drain_timeout=1.0,
    )
    spool = tmp_path / "sidecar"
    with running(config) as runner:
        first = send(runner.port, 1, 200)
        wait_for(lambda: count_rows(store_url) == 200)  # the store path goes on
        wait_for(lambda: metric(runner, "predlog_sidecar_forward_failures_total") >= 2)
        assert aggregator.job_ids() == []
        assert len(list(spool.glob(f"*{SEGMENT_SUFFIX}"))) > 2  # kept for the forwarder
        assert runner.sidecar.health()[1]["forward"]["aggregator_up"] is False
    assert (spool / FORWARD_CHECKPOINT).exists()
    with running(config) as runner:
        second = send(runner.port, 201, 100)
        wait_for(lambda: count_rows(store_url) == 300)
        aggregator.start()
        wait_for(lambda: set(aggregator.job_ids()) >= set(first + second), timeout=30)
        third = send(runner.port, 301, 50)
        wait_for(lambda: set(aggregator.job_ids()) >= set(third), timeout=30)
        assert runner.sidecar.health()[1]["forward"]["aggregator_up"] is True
        # Both cursors passed them: the segments go.
        wait_for(lambda: len(list(spool.glob(f"*{SEGMENT_SUFFIX}"))) <= 2)
    assert count_rows(store_url) == 350
    assert sorted(set(aggregator.job_ids())) == sorted(first + second + third)


def test_with_acks_a_server_that_never_acks_gets_it_again(aggregator: Aggregator) -> None:
    """require_ack: no ack is no delivery (raises), and the chunk is sent again."""
    aggregator.start()
    client = AggregatorClient("127.0.0.1", aggregator.port, require_ack=True, timeout=0.7)
    record = make_record(1)
    chunk = new_chunk_id()
    message = chunk_message(TAG, [(record.event_time, record.to_wire())], chunk)
    with pytest.raises(OSError, match="aggregator"):
        client.send(message, chunk)
    wait_for(lambda: len(aggregator.job_ids()) == 1)  # it did get there, unacknowledged
    AggregatorClient("127.0.0.1", aggregator.port, require_ack=False, timeout=5).send(
        message, chunk
    )
    wait_for(lambda: len(aggregator.job_ids()) == 2)  # at least once: twice here
    closed = AggregatorClient("127.0.0.1", free_port(), require_ack=False, timeout=1)
    with pytest.raises(ConnectionRefusedError):
        closed.send(message, chunk)


def test_acks_from_a_predlog_sidecar_as_the_aggregator(sqlite_url: str, tmp_path: Path) -> None:
    """Sidecar to sidecar: the aggregator acknowledges each chunk once it is fsynced."""
    downstream_url = f"sqlite:///{tmp_path / 'downstream.db'}"
    downstream = settings(downstream_url, tmp_path / "down", writer_process=False)
    with running(downstream) as receiver:
        config = settings(
            sqlite_url,
            tmp_path / "up",
            writer_process=False,
            forward_to=f"127.0.0.1:{receiver.port}",
            forward_chunk_records=64,
        )
        with running(config) as runner:
            sent = send(runner.port, 1, 250)
            wait_for(lambda: count_rows(downstream_url) == 250 and count_rows(sqlite_url) == 250)
            assert metric(receiver, "predlog_sidecar_acks_total") >= 4
            assert metric(runner, "predlog_sidecar_forward_records_total") == 250
    assert len(sent) == 250
