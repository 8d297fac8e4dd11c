"""The sidecar in-process, driven by the real fluent-logger senders and hand-built frames."""

from __future__ import annotations

import gzip
import os
import signal
import socket
import time
import urllib.request
from pathlib import Path

import msgpack
import pytest
from fluent import asyncsender
from fluent.sender import EventTime, FluentSender

from sidecar.ingest.protocol import encode_event_time, shared_key_digest
from sidecar.record import TAG
from sidecar.store.schema import dead_letters
from sidecar.writer.process import WriterProcess
from tests.records import wire_record
from tests.sidecar.helpers import (
    ForwardClient,
    count_rows,
    dead_letter_rows,
    forward_message,
    metric,
    running,
    settings,
)
from tests.support import wait_for


def test_sync_sender_message_mode_lands_in_the_store(store_url: str, tmp_path: Path) -> None:
    with running(settings(store_url, tmp_path)) as sc:
        sender = FluentSender("predlog", host="127.0.0.1", port=sc.port, nanosecond_precision=True)
        for seq in range(1, 201):
            assert sender.emit("prediction", wire_record(seq)), sender.last_error
        sender.close()
        wait_for(lambda: count_rows(store_url) == 200)
        assert metric(sc, "predlog_sidecar_records_received_total", source="forward") == 200
        # The writer process reports after its commit: the metric follows.
        wait_for(lambda: metric(sc, "predlog_sidecar_records_stored_total") == 200)
        wait_for(lambda: metric(sc, "predlog_sidecar_commit_lag_seconds_count") == 200)


def test_async_sender_with_integer_times(sqlite_url: str, tmp_path: Path) -> None:
    with running(settings(sqlite_url, tmp_path)) as sc:
        sender = asyncsender.FluentSender("predlog", host="127.0.0.1", port=sc.port)
        for seq in range(1, 301):
            assert sender.emit("prediction", wire_record(seq, host="async"))
        sender.close()
        wait_for(lambda: count_rows(sqlite_url) == 300)


def test_forward_packed_and_compressed_modes_are_acked_after_spooling(
    store_url: str, tmp_path: Path
) -> None:
    with running(settings(store_url, tmp_path)) as sc:
        client = ForwardClient(sc.port)
        client.send(forward_message([wire_record(1), wire_record(2)], chunk="c-forward"))
        assert client.receive() == {"ack": "c-forward"}
        packed = b"".join(
            msgpack.packb([encode_event_time(time.time()), wire_record(s)]) for s in (3, 4, 5)
        )
        client.send([TAG, packed, {"size": 3, "chunk": "c-packed"}])
        assert client.receive() == {"ack": "c-packed"}
        client.send([TAG, gzip.compress(packed), {"compressed": "gzip"}])
        zipped = b"".join(msgpack.packb([time.time(), wire_record(s)]) for s in (6, 7))
        client.send(
            [TAG, gzip.compress(zipped), {"compressed": "gzip", "size": 2, "chunk": "c-gzip"}]
        )
        assert client.receive() == {"ack": "c-gzip"}
        # The ack promises durability: the spool has it on disk, fsynced.
        assert sc.sidecar.spool.synced == sc.sidecar.spool.appended
        client.close()
        # 2 + 3 + 3 (the same three again: duplicates) + 2 distinct records
        wait_for(lambda: count_rows(store_url) == 7)
        wait_for(lambda: metric(sc, "predlog_sidecar_records_duplicate_total") == 3)
        assert metric(sc, "predlog_sidecar_acks_total") == 3


def test_message_mode_chunk_option_is_acked(sqlite_url: str, tmp_path: Path) -> None:
    with running(settings(sqlite_url, tmp_path)) as sc:
        client = ForwardClient(sc.port)
        client.send([TAG, EventTime(time.time()), wire_record(1), {"chunk": "m1"}])
        assert client.receive() == {"ack": "m1"}
        client.close()
        wait_for(lambda: count_rows(sqlite_url) == 1)


def test_partial_reads_byte_by_byte(sqlite_url: str, tmp_path: Path) -> None:
    with running(settings(sqlite_url, tmp_path)) as sc:
        data = b"".join(msgpack.packb([TAG, time.time(), wire_record(s)]) for s in (1, 2, 3))
        with socket.create_connection(("127.0.0.1", sc.port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(len(data)):
                sock.sendall(data[i : i + 1])
        wait_for(lambda: count_rows(sqlite_url) == 3)
        assert metric(sc, "predlog_sidecar_bad_connections_total", reason="malformed") == 0


def test_handshake_with_shared_key(sqlite_url: str, tmp_path: Path) -> None:
    with running(settings(sqlite_url, tmp_path, shared_key="s3cret", self_hostname="sc")) as sc:
        client = ForwardClient(sc.port)
        pong = client.handshake("s3cret")
        assert pong[:4] == ["PONG", True, "", "sc"]
        # The server proves it knows the key too.
        assert pong[4] == shared_key_digest(client.salt, "sc", client.nonce, "s3cret")
        client.send(forward_message([wire_record(1)], chunk="after-auth"))
        assert client.receive() == {"ack": "after-auth"}
        client.close()

        intruder = ForwardClient(sc.port)
        pong = intruder.handshake("wrong")
        assert pong[:3] == ["PONG", False, "shared_key mismatch"]
        assert intruder.closed_by_server()

        # A sender that skips the handshake (fluent-logger cannot do it) gets nothing in.
        skipper = ForwardClient(sc.port)
        assert skipper.receive()[0] == "HELO"
        skipper.send([TAG, time.time(), wire_record(2)])
        assert skipper.closed_by_server()
        wait_for(lambda: count_rows(sqlite_url) == 1)
        assert metric(sc, "predlog_sidecar_bad_connections_total", reason="auth_failed") == 1
        assert metric(sc, "predlog_sidecar_bad_connections_total", reason="expected PING") == 1


def test_garbage_closes_only_that_connection(sqlite_url: str, tmp_path: Path) -> None:
    with running(settings(sqlite_url, tmp_path, max_entry_bytes=4096)) as sc:
        for junk in (b"\xc1" * 10, os.urandom(4096), b"GET / HTTP/1.1\r\n\r\n"):
            bad = ForwardClient(sc.port, timeout=5)
            bad.sock.sendall(junk)
            assert bad.closed_by_server()
        big = ForwardClient(sc.port, timeout=5)
        big.sock.sendall(msgpack.packb([TAG, time.time(), {"blob": "x" * 10000}]))
        assert big.closed_by_server()
        assert metric(sc, "predlog_sidecar_bad_connections_total", reason="entry_too_large") == 1
        total = sum(
            s.value
            for fam in sc.sidecar.metrics.registry.collect()
            if fam.name == "predlog_sidecar_bad_connections"
            for s in fam.samples
            if s.name.endswith("_total")
        )
        assert total == 4
        sender = FluentSender("predlog", host="127.0.0.1", port=sc.port)
        assert sender.emit("prediction", wire_record(1))
        sender.close()
        wait_for(lambda: count_rows(sqlite_url) == 1)


def test_many_concurrent_connections(sqlite_url: str, tmp_path: Path) -> None:
    with running(settings(sqlite_url, tmp_path)) as sc:
        senders = [FluentSender("predlog", host="127.0.0.1", port=sc.port) for _ in range(50)]
        for seq in range(1, 11):
            for pid, sender in enumerate(senders):
                assert sender.emit("prediction", wire_record(seq, pid=pid))
        for sender in senders:
            sender.close()
        wait_for(lambda: count_rows(sqlite_url) == 500)


def test_duplicate_job_id_is_one_row(store_url: str, tmp_path: Path) -> None:
    with running(settings(store_url, tmp_path)) as sc:
        sender = FluentSender("predlog", host="127.0.0.1", port=sc.port)
        same = wire_record(1, job_id="0190b4a2-dup-dup")
        assert sender.emit("prediction", same)
        wait_for(lambda: count_rows(store_url) == 1)
        assert sender.emit("prediction", same)  # redelivered in a later batch
        sender.close()
        wait_for(lambda: metric(sc, "predlog_sidecar_records_duplicate_total") == 1)
        assert count_rows(store_url) == 1


def test_invalid_records_and_foreign_tags_are_dead_lettered(store_url: str, tmp_path: Path) -> None:
    with running(settings(store_url, tmp_path)) as sc:
        sender = FluentSender("predlog", host="127.0.0.1", port=sc.port)
        bad = wire_record(1) | {"status": 42}
        assert sender.emit("prediction", bad)
        assert sender.emit("other", wire_record(2))
        assert sender.emit("prediction", wire_record(3))
        sender.close()
        wait_for(lambda: count_rows(store_url, dead_letters) == 2)
        assert count_rows(store_url) == 1
        rows = {row.tag: row for row in dead_letter_rows(store_url)}
        assert "status" in rows[TAG].reason
        assert msgpack.unpackb(rows[TAG].payload) == bad
        assert "unexpected tag" in rows["predlog.other"].reason
        # The writer process reports after its commit: the metric follows.
        wait_for(lambda: metric(sc, "predlog_sidecar_records_rejected_total") == 2)


def test_healthz_and_metrics_endpoints(sqlite_url: str, tmp_path: Path) -> None:
    with running(settings(sqlite_url, tmp_path)) as sc:
        base = f"http://127.0.0.1:{sc.sidecar.http_port}"
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as resp:
            assert resp.status == 200
            assert b'"status": "ok"' in resp.read()
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as resp:
            body = resp.read().decode()
        for name in (
            "predlog_sidecar_records_received_total",
            "predlog_sidecar_spool_fill_ratio",
            "predlog_sidecar_store_write_seconds_bucket",
            "predlog_sidecar_commit_lag_seconds_bucket",
            "predlog_sidecar_missing_records",
        ):
            assert name in body
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{base}/nope", timeout=5)
        assert info.value.code == 404


def test_missing_records_metric_counts_sequence_gaps(sqlite_url: str, tmp_path: Path) -> None:
    with running(settings(sqlite_url, tmp_path)) as sc:
        sender = FluentSender("predlog", host="127.0.0.1", port=sc.port)
        for seq in (1, 2, 5, 9):  # 3, 4, 6, 7, 8 were lost upstream
            assert sender.emit("prediction", wire_record(seq))
        sender.close()
        wait_for(lambda: metric(sc, "predlog_sidecar_missing_records") == 5)


def test_other_shapes_after_plain_message_mode_entries_on_one_connection(
    store_url: str, tmp_path: Path
) -> None:
    # After a few plain entries the server frames this peer's messages by their leading
    # bytes; every other shape must still be read in full, acked and stored.
    with running(settings(store_url, tmp_path)) as sc:
        client = ForwardClient(sc.port)
        for seq in (1, 2, 3):
            client.send([TAG, EventTime(time.time()), wire_record(seq)])
        client.send([TAG, EventTime(time.time()), wire_record(4), {"chunk": "m4"}])
        assert client.receive() == {"ack": "m4"}
        client.send(None)  # a heartbeat
        client.send(forward_message([wire_record(5), wire_record(6)], chunk="f56"))
        assert client.receive() == {"ack": "f56"}
        client.send([TAG, time.time(), wire_record(7)])  # a float time: another prefix
        client.send(["predlog.other", EventTime(time.time()), wire_record(8)])  # another tag
        client.send([TAG, EventTime(time.time()), wire_record(9), {"chunk": "m9"}])
        assert client.receive() == {"ack": "m9"}
        client.sock.sendall(b"\x93\xc1\xc1\xc1")  # garbage: closed, counted
        assert client.closed_by_server()
        wait_for(lambda: count_rows(store_url) == 8)
        wait_for(lambda: count_rows(store_url, dead_letters) == 1)
        assert metric(sc, "predlog_sidecar_records_received_total", source="forward") == 9
        assert metric(sc, "predlog_sidecar_bad_connections_total", reason="malformed") == 1


def test_the_writer_loop_in_a_thread_instead_of_a_process(store_url: str, tmp_path: Path) -> None:
    config = settings(store_url, tmp_path, writer_process=False)
    with running(config) as sc:
        sender = FluentSender("predlog", host="127.0.0.1", port=sc.port)
        for seq in range(1, 101):
            assert sender.emit("prediction", wire_record(seq)), sender.last_error
        sender.close()
        wait_for(lambda: count_rows(store_url) == 100)
        wait_for(lambda: metric(sc, "predlog_sidecar_records_stored_total") == 100)
        wait_for(lambda: sc.sidecar.spool.pending == 0)
        assert sc.sidecar.health()[1]["store_up"] is True


def test_a_dead_writer_process_makes_the_sidecar_unhealthy(sqlite_url: str, tmp_path: Path) -> None:
    with running(settings(sqlite_url, tmp_path)) as sc:
        sender = FluentSender("predlog", host="127.0.0.1", port=sc.port)
        assert sender.emit("prediction", wire_record(1))
        wait_for(lambda: count_rows(sqlite_url) == 1)
        assert sc.sidecar.health()[0]
        writer = sc.sidecar.writer
        assert isinstance(writer, WriterProcess)
        assert writer.pid is not None
        os.kill(writer.pid, signal.SIGKILL)
        wait_for(lambda: not sc.sidecar.health()[0])
        assert sc.sidecar.health()[1]["writer"].startswith("stopped")
        # Receiving goes on: the spool keeps what arrives for the next start.
        assert sender.emit("prediction", wire_record(2))
        sender.close()
        wait_for(
            lambda: metric(sc, "predlog_sidecar_records_received_total", source="forward") == 2
        )
    with running(settings(sqlite_url, tmp_path)) as again:  # replayed by the next writer
        wait_for(lambda: count_rows(sqlite_url) == 2)
        assert again.sidecar.health()[0]


def test_small_writes_are_read_together_while_the_connection_rests(
    sqlite_url: str, tmp_path: Path
) -> None:
    # One message per write, as fluent-logger sends: after a small read the connection
    # waits read_coalesce seconds, and the next read takes what arrived meanwhile.
    with running(settings(sqlite_url, tmp_path, read_coalesce=0.1)) as sc:
        spool = sc.sidecar.spool
        appends = 0
        append = spool.append

        def counting(payload: bytes) -> int:
            nonlocal appends
            appends += 1
            return append(payload)

        spool.append = counting  # type: ignore[method-assign]
        client = ForwardClient(sc.port)
        for seq in range(1, 201):
            client.send([TAG, EventTime(time.time()), wire_record(seq)])
            time.sleep(0.001)  # a client sending steadily, not in one burst
        client.close()
        wait_for(lambda: count_rows(sqlite_url) == 200)
        assert appends < 50  # one frame per read: about 200 reads without the rests
        assert metric(sc, "predlog_sidecar_records_received_total", source="forward") == 200
