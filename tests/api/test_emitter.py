"""The emitter: every record sent, spooled or counted as failed; never both, never neither."""

from __future__ import annotations

import io
import socket
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest

from api.emitter import BatchSender, RecordEmitter
from api.spool import SpoolWriter
from sidecar.record import TAG
from tests.api.fixtures import ForwardReceiver, read_spool
from tests.support import free_port, wait_for


def record(seq: int) -> dict[str, Any]:
    """A minimal record dict (the emitter does not validate)."""
    return {"job_id": f"job-{seq}", "seq": seq, "event_time": time.time(), "status": 200}


def make(forward_port: int, spool_dir: Path, **kwargs: Any) -> RecordEmitter:
    return RecordEmitter(("127.0.0.1", forward_port), SpoolWriter(spool_dir), **kwargs)


def seqs_in_spool(spool_dir: Path) -> list[int]:
    return [entry[2]["seq"] for entry in read_spool(spool_dir)]


def test_sends_everything_to_a_listening_receiver(
    receiver: ForwardReceiver, tmp_path: Path
) -> None:
    outcomes: list[tuple[str, int]] = []
    emitter = make(receiver.port, tmp_path, on_outcome=lambda o, n: outcomes.append((o, n)))
    emitter.start()
    for seq in range(1, 1001):
        emitter.emit(record(seq))
    emitter.close()
    wait_for(lambda: len(receiver.records) == 1000)
    assert [r["seq"] for r in receiver.records] == list(range(1, 1001))
    assert {e[0] for e in receiver.entries} == {TAG}
    assert emitter.counts == {"sent": 1000, "spooled": 0, "failed": 0}
    assert sum(n for o, n in outcomes if o == "sent") == 1000
    assert not (tmp_path / "api").exists()


def test_a_full_queue_spools_instead_of_blocking(receiver: ForwardReceiver, tmp_path: Path) -> None:
    emitter = make(receiver.port, tmp_path, queue_size=3)
    for seq in range(1, 11):  # the thread is not started: the queue fills up
        emitter.emit(record(seq))
    assert emitter.pending == 3
    assert emitter.counts["spooled"] == 7
    emitter.start()
    emitter.close()
    wait_for(lambda: len(receiver.records) == 3)
    sent = [r["seq"] for r in receiver.records]
    spooled = seqs_in_spool(tmp_path)
    assert sorted(sent + spooled) == list(range(1, 11))
    assert emitter.counts == {"sent": 3, "spooled": 7, "failed": 0}


def test_receiver_goes_away_nothing_is_lost_or_doubled(tmp_path: Path) -> None:
    port = free_port()
    receiver = ForwardReceiver(port)
    emitter = make(port, tmp_path, retry_interval=0.0)
    emitter.start()
    for seq in range(1, 101):
        emitter.emit(record(seq))
    wait_for(lambda: len(receiver.records) == 100)
    receiver.close()
    for seq in range(101, 201):
        emitter.emit(record(seq))
        time.sleep(0.001)
    emitter.close()
    sent = [r["seq"] for r in receiver.records]
    spooled = seqs_in_spool(tmp_path)
    assert not set(sent) & set(spooled)
    assert sorted(sent + spooled) == list(range(1, 201))
    assert emitter.counts["sent"] == len(sent)
    assert emitter.counts["spooled"] == len(spooled) > 0
    assert emitter.counts["failed"] == 0


def test_overflowing_the_senders_buffer_spools_through_its_handler(tmp_path: Path) -> None:
    emitter = make(free_port(), tmp_path, bufmax=16, retry_interval=0.0)
    emitter.start()
    for seq in range(1, 6):
        emitter.emit(record(seq))
    emitter.close()
    assert sorted(seqs_in_spool(tmp_path)) == [1, 2, 3, 4, 5]
    assert emitter.counts == {"sent": 0, "spooled": 5, "failed": 0}


def test_records_emitted_after_close_are_spooled(receiver: ForwardReceiver, tmp_path: Path) -> None:
    emitter = make(receiver.port, tmp_path)
    emitter.start()
    emitter.close()
    emitter.emit(record(1))
    emitter.spool.close()
    assert seqs_in_spool(tmp_path) == [1]
    assert emitter.counts["spooled"] == 1


def test_an_unwritable_spool_is_counted_as_failed(tmp_path: Path) -> None:
    blocker = tmp_path / "spool"
    blocker.write_text("a file where the spool directory should be")
    emitter = make(free_port(), blocker, retry_interval=10.0)
    emitter.start()
    for seq in range(1, 4):
        emitter.emit(record(seq))
    emitter.close()
    assert emitter.counts == {"sent": 0, "spooled": 0, "failed": 3}


@pytest.mark.parametrize("listening", [True, False])
def test_an_unpackable_record_is_counted_as_failed(
    listening: bool, receiver: ForwardReceiver, tmp_path: Path
) -> None:
    emitter = make(receiver.port if listening else free_port(), tmp_path, retry_interval=10.0)
    emitter.start()
    emitter.emit(record(1))
    emitter.emit({**record(2), "bad": object()})
    emitter.emit(record(3))
    emitter.close()
    delivered = [r["seq"] for r in receiver.records] if listening else seqs_in_spool(tmp_path)
    if listening:
        wait_for(lambda: len(receiver.records) == 2)
        delivered = [r["seq"] for r in receiver.records]
    assert delivered == [1, 3]
    assert emitter.counts["failed"] == 1


def test_a_batch_is_the_bytes_of_one_emit_per_record() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        sender = BatchSender(TAG.partition(".")[0], host="127.0.0.1", port=server.getsockname()[1])
        records = [record(seq) | {"inputs": [[1.5, 2, -3e38]], "error": None} for seq in (1, 2)]
        events = [(r["event_time"], r) for r in records]
        assert sender.emit_many("prediction", events)
        conn, _ = server.accept()
        sender.close()
        with conn:
            received = b"".join(iter(lambda: conn.recv(65536), b""))
    expected = b"".join(sender._make_packet("prediction", t, r) for t, r in events)
    assert received == expected
    assert [entry[2] for entry in msgpack.Unpacker(io.BytesIO(received))] == records
    with pytest.raises(ValueError, match="nanosecond"):
        BatchSender("predlog", nanosecond_precision=True)
