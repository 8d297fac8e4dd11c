"""The emitter and its acking sender: every record acknowledged, spooled or counted as failed;
none forgotten, a resend stored once by job_id downstream."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest

from api.acksender import AckingSender
from api.emitter import RecordEmitter
from api.spool import SpoolWriter
from sidecar.record import TAG
from tests.api.fixtures import ForwardReceiver, read_spool
from tests.support import free_port, wait_for

PREFIX, _, LABEL = TAG.partition(".")


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
    assert [r["seq"] for r in receiver.records] == list(range(1, 1001))
    assert {e[0] for e in receiver.entries} == {TAG}
    assert emitter.counts == {"sent": 1000, "spooled": 0, "failed": 0}
    assert sum(n for o, n in outcomes if o == "sent") == 1000
    assert not (tmp_path / "api").exists()


def test_sent_counts_only_what_the_receiver_acknowledged(
    receiver: ForwardReceiver, tmp_path: Path
) -> None:
    emitter = make(receiver.port, tmp_path)
    emitter.start()
    for seq in range(1, 101):
        emitter.emit(record(seq))
    wait_for(lambda: emitter.counts["sent"] == 100)
    assert emitter.in_flight == 0
    chunk_ends = [e for e in receiver.entries if len(e) == 4]
    assert chunk_ends, "every write ends with an entry that asks for an ack"
    assert all(set(e[3]) == {"chunk"} for e in chunk_ends)
    emitter.close()


def test_without_acks_nothing_is_sent_twice_and_the_rest_is_spooled(tmp_path: Path) -> None:
    # A receiver that never answers: after the ack timeout the connection counts as lost,
    # what was in flight is sent again (or spooled), and nothing is counted as sent.
    with ForwardReceiver(acks=False) as mute:
        emitter = make(mute.port, tmp_path, ack_timeout=0.2, retry_interval=5.0)
        emitter.start()
        for seq in range(1, 51):
            emitter.emit(record(seq))
        wait_for(lambda: emitter.counts["spooled"] == 50)
        emitter.close()
        assert emitter.counts == {"sent": 0, "spooled": 50, "failed": 0}
        assert sorted(seqs_in_spool(tmp_path)) == list(range(1, 51))
        assert {r["seq"] for r in mute.records} <= set(range(1, 51))


def test_acks_off_counts_what_was_written(tmp_path: Path) -> None:
    with ForwardReceiver(acks=False) as mute:
        emitter = make(mute.port, tmp_path, acks=False)
        emitter.start()
        for seq in range(1, 51):
            emitter.emit(record(seq))
        emitter.close()
        wait_for(lambda: len(mute.records) == 50)
        assert all(len(e) == 3 for e in mute.entries)
        assert emitter.counts == {"sent": 50, "spooled": 0, "failed": 0}


def test_a_full_queue_spools_instead_of_blocking(receiver: ForwardReceiver, tmp_path: Path) -> None:
    emitter = make(receiver.port, tmp_path, queue_size=3)
    for seq in range(1, 11):  # the thread is not started: the queue fills up
        emitter.emit(record(seq))
    assert emitter.pending == 3
    assert emitter.counts["spooled"] == 7
    emitter.start()
    emitter.close()
    sent = [r["seq"] for r in receiver.records]
    spooled = seqs_in_spool(tmp_path)
    assert sorted(sent + spooled) == list(range(1, 11))
    assert emitter.counts == {"sent": 3, "spooled": 7, "failed": 0}


def test_receiver_goes_away_nothing_is_lost(tmp_path: Path) -> None:
    port = free_port()
    receiver = ForwardReceiver(port)
    emitter = make(port, tmp_path, retry_interval=0.0)
    emitter.start()
    for seq in range(1, 101):
        emitter.emit(record(seq))
    wait_for(lambda: emitter.counts["sent"] == 100)
    receiver.close()
    for seq in range(101, 201):
        emitter.emit(record(seq))
        time.sleep(0.001)
    emitter.close()
    acked = {r["seq"] for r in receiver.records}
    spooled = seqs_in_spool(tmp_path)
    assert acked | set(spooled) == set(range(1, 201))
    assert len(spooled) == len(set(spooled))
    assert emitter.counts["sent"] + emitter.counts["spooled"] == 200
    assert emitter.counts["spooled"] == len(spooled) > 0
    assert emitter.counts["failed"] == 0


class SwallowingReceiver:
    """Reads its first connection, acknowledges nothing, and hangs up when told (a receiver
    killed with records read from its socket but not yet safe); later connections get acks
    (the receiver restarted)."""

    def __init__(self, port: int) -> None:
        self.server = socket.create_server(("127.0.0.1", port))
        self.received = bytearray()
        self.records: list[dict[str, Any]] = []
        self.conn: socket.socket | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            self.conn, _ = self.server.accept()
            while data := self.conn.recv(65536):
                self.received += data
            while True:
                conn, _ = self.server.accept()
                threading.Thread(target=self._ack, args=(conn,), daemon=True).start()

    def _ack(self, conn: socket.socket) -> None:
        unpacker = msgpack.Unpacker(raw=False)
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(65536):
                unpacker.feed(data)
                for entry in unpacker:
                    self.records.append(entry[2])
                    if len(entry) == 4:
                        conn.sendall(msgpack.packb({"ack": entry[3]["chunk"]}))

    def hang_up(self) -> None:
        assert self.conn is not None
        with contextlib.suppress(OSError):  # EOF to the sender, as a killed process gives
            self.conn.shutdown(socket.SHUT_RDWR)

    def kill(self) -> None:
        self.hang_up()
        self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()


def test_what_was_in_flight_is_resent_on_a_new_connection(tmp_path: Path) -> None:
    port = free_port()
    swallower = SwallowingReceiver(port)
    emitter = make(port, tmp_path, retry_interval=0.0)
    emitter.start()
    for seq in range(1, 51):
        emitter.emit(record(seq))
    wait_for(lambda: len(swallower.received) > 0 and emitter.in_flight == 50)
    swallower.hang_up()
    wait_for(lambda: emitter.counts["sent"] == 50)
    emitter.close()
    assert sorted(r["seq"] for r in swallower.records) == list(range(1, 51))
    assert emitter.counts == {"sent": 50, "spooled": 0, "failed": 0}
    assert emitter._sender.lost_connections == 1
    swallower.kill()


def test_what_was_in_flight_is_spooled_when_no_receiver_comes_back(tmp_path: Path) -> None:
    port = free_port()
    swallower = SwallowingReceiver(port)
    emitter = make(port, tmp_path, retry_interval=0.0)
    emitter.start()
    for seq in range(1, 51):
        emitter.emit(record(seq))
    wait_for(lambda: len(swallower.received) > 0 and emitter.in_flight == 50)
    swallower.kill()
    wait_for(lambda: emitter.counts["spooled"] == 50)
    emitter.close()
    assert sorted(seqs_in_spool(tmp_path)) == list(range(1, 51))
    assert {len(entry) for entry in read_spool(tmp_path)} == {3}  # no chunk options spooled
    assert emitter.counts == {"sent": 0, "spooled": 50, "failed": 0}


def test_an_unwritable_spool_is_counted_as_failed(tmp_path: Path) -> None:
    blocker = tmp_path / "spool"
    blocker.write_text("a file where the spool directory should be")
    emitter = make(free_port(), blocker, retry_interval=10.0)
    emitter.start()
    for seq in range(1, 4):
        emitter.emit(record(seq))
    emitter.close()
    assert emitter.counts == {"sent": 0, "spooled": 0, "failed": 3}


def test_records_emitted_after_close_are_spooled(receiver: ForwardReceiver, tmp_path: Path) -> None:
    emitter = make(receiver.port, tmp_path)
    emitter.start()
    emitter.close()
    emitter.emit(record(1))
    emitter.spool.close()
    assert seqs_in_spool(tmp_path) == [1]
    assert emitter.counts["spooled"] == 1


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
    assert delivered == [1, 3]
    assert emitter.counts["failed"] == 1


# -- the sender on its own ------------------------------------------------------------------


def received_by(server: socket.socket, sender: AckingSender) -> bytes:
    conn, _ = server.accept()
    sender.close()
    with conn:
        return b"".join(iter(lambda: conn.recv(65536), b""))


def test_a_chunk_is_plain_entries_and_one_that_asks_for_the_ack() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        sender = AckingSender(PREFIX, host="127.0.0.1", port=server.getsockname()[1])
        records = [record(seq) | {"inputs": [[1.5, 2, -3e38]], "error": None} for seq in (1, 2)]
        events = [(r["event_time"], r) for r in records]
        assert sender.emit_many(LABEL, events)
        assert sender.in_flight == 2
        received = received_by(server, sender)
    entries = list(msgpack.Unpacker(io.BytesIO(received), raw=False))
    assert entries[0] == [TAG, events[0][0], records[0]]
    assert received.startswith(sender._make_packet(LABEL, *events[0]))  # fluent-logger's bytes
    tag, t, rec, option = entries[1]
    assert (tag, t, rec) == (TAG, events[1][0], records[1])
    assert set(option) == {"chunk"}
    assert len(option["chunk"]) == 24  # base64 of 128 bits, as the forward protocol says
    with pytest.raises(ValueError, match="nanosecond"):
        AckingSender("predlog", nanosecond_precision=True)


def test_acks_read_during_writes_and_polls_settle_chunks() -> None:
    # _check_recv_side is fluent-logger's internal, called by its _send_data around every
    # write: this fails if that stops being so (acks would then only be read by poll()).
    with socket.create_server(("127.0.0.1", 0)) as server:
        sender = AckingSender(PREFIX, host="127.0.0.1", port=server.getsockname()[1])
        assert sender.emit_many(LABEL, [(1.0, record(1))])
        conn, _ = server.accept()
        with conn:
            unpacker = msgpack.Unpacker(raw=False)
            wait_for(lambda: unpacker.feed(conn.recv(65536)) or True)
            first = next(iter(unpacker))
            conn.sendall(msgpack.packb({"ack": first[3]["chunk"]}))
            time.sleep(0.05)
            assert sender.emit_many(LABEL, [(2.0, record(2))])  # reads the first ack
            assert sender.take_delivered() == 1
            assert sender.in_flight == 1
            unpacker.feed(conn.recv(65536))
            second = next(iter(unpacker))
            conn.sendall(msgpack.packb({"ack": second[3]["chunk"]}) + msgpack.packb("noise"))
            wait_for(lambda: sender.poll() and sender.in_flight == 0)
            assert sender.take_delivered() == 1
        sender.close()


def test_an_ack_that_came_just_before_the_hang_up_counts() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        sender = AckingSender(PREFIX, host="127.0.0.1", port=server.getsockname()[1])
        assert sender.emit_many(LABEL, [(1.0, record(1))])
        assert sender.emit_many(LABEL, [(2.0, record(2))])
        conn, _ = server.accept()
        unpacker = msgpack.Unpacker(raw=False)
        while len(entries := list(unpacker)) < 1:
            unpacker.feed(conn.recv(65536))
        conn.sendall(msgpack.packb({"ack": entries[0][3]["chunk"]}))
        conn.close()
        wait_for(lambda: not sender.poll())
        assert sender.take_delivered() == 1
        packed, n = sender.take_pending()
        assert n == 1
        assert [e[2]["seq"] for e in msgpack.Unpacker(io.BytesIO(packed), raw=False)] == [2]
        sender.close()


def test_an_unreachable_receiver_leaves_the_chunk_pending_until_taken() -> None:
    overflowed: list[bytes] = []
    sender = AckingSender(
        PREFIX, host="127.0.0.1", port=free_port(), buffer_overflow_handler=overflowed.append
    )
    assert not sender.emit_many(LABEL, [(1.0, record(1)), (2.0, record(2))])
    assert sender.pending == 2
    assert sender.last_error is not None
    assert not sender.resend()
    assert sender.pending == 2
    sender.close()  # what was never delivered goes to the overflow handler, as fluent-logger's
    assert [e[2]["seq"] for e in msgpack.Unpacker(io.BytesIO(overflowed[0]), raw=False)] == [1, 2]


def test_past_bufmax_pending_chunks_go_to_the_overflow_handler() -> None:
    overflowed: list[bytes] = []
    sender = AckingSender(
        PREFIX,
        host="127.0.0.1",
        port=free_port(),
        bufmax=16,
        buffer_overflow_handler=overflowed.append,
    )
    assert not sender.emit_many(LABEL, [(1.0, record(1))])
    assert sender.pending == 0
    assert len(overflowed) == 1
    sender.close()
