"""Two readers of one spool: segments are kept until the store's checkpoint and the
forwarder's cursor have both passed them, in one process and with a follower."""

from __future__ import annotations

from pathlib import Path

import msgpack

from sidecar.spool.follower import SpoolFollower
from sidecar.spool.format import (
    FORWARD_CHECKPOINT,
    SEGMENT_SUFFIX,
    read_checkpoint,
    trim_point,
    write_checkpoint,
)
from sidecar.spool.reader import SpoolReader
from sidecar.spool.segments import Spool


def entries(first: int, n: int) -> bytes:
    return b"".join(msgpack.packb(["t", 1.0, {"i": i}]) for i in range(first, first + n))


def segments(path: Path) -> int:
    return len(list(path.glob(f"*{SEGMENT_SUFFIX}")))


def test_segments_wait_for_the_forwarder_cursor(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=64, max_bytes=1 << 24)
    write_checkpoint(tmp_path, spool.committed, FORWARD_CHECKPOINT)
    for i in range(0, 40, 4):
        spool.append(entries(i, 4))
    made = segments(tmp_path)
    store = spool.reader()
    assert len(store.read(1000)) == 40
    spool.commit(store.position)  # the store has everything: the forwarder nothing yet
    assert segments(tmp_path) == made
    assert spool.full is False
    assert spool.size > 0
    start = read_checkpoint(tmp_path, FORWARD_CHECKPOINT)
    forward = SpoolReader(spool, start=start)
    half = forward.read(20)
    assert [e[2]["i"] for e in half] == list(range(20))
    write_checkpoint(tmp_path, forward.position, FORWARD_CHECKPOINT)
    spool.trim()
    assert 0 < segments(tmp_path) < made  # the first half went
    assert trim_point(tmp_path, spool.committed) == forward.position
    rest = forward.read(1000)
    assert [e[2]["i"] for e in rest] == list(range(20, 40))
    write_checkpoint(tmp_path, forward.position, FORWARD_CHECKPOINT)
    spool.trim()
    assert segments(tmp_path) <= 1
    spool.close()


def test_reopening_keeps_what_the_forwarder_has_not_read(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=64, max_bytes=1 << 24)
    write_checkpoint(tmp_path, spool.committed, FORWARD_CHECKPOINT)
    for i in range(0, 20, 4):
        spool.append(entries(i, 4))
    store = spool.reader()
    store.read(1000)
    spool.commit(store.position)
    spool.close()
    again = Spool(tmp_path, segment_bytes=64, max_bytes=1 << 24)
    forward = SpoolReader(again, start=read_checkpoint(tmp_path, FORWARD_CHECKPOINT))
    assert [e[2]["i"] for e in forward.read(1000)] == list(range(20))
    assert again.reader().read(1000) == []  # the store's reader starts past them
    again.close()


def test_a_follower_trims_only_what_both_passed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=64, max_bytes=1 << 24)
    write_checkpoint(tmp_path, spool.committed, FORWARD_CHECKPOINT)
    for i in range(0, 40, 4):
        spool.append(entries(i, 4))
    spool.sync()
    made = segments(tmp_path)
    follower = SpoolFollower(tmp_path)
    reader = follower.reader()
    while reader.read(1000):
        pass
    follower.commit(reader.position)
    spool.refresh()
    assert segments(tmp_path) == made
    assert spool.size > 0
    (tmp_path / FORWARD_CHECKPOINT).unlink()  # forwarding turned off
    follower.commit(reader.position)
    spool.refresh()
    assert segments(tmp_path) <= 1
    spool.close()
