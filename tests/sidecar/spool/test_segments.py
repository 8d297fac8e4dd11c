"""The spool: frames survive reopening, commits trim, torn tails are skipped, not fatal."""

from __future__ import annotations

from pathlib import Path

import msgpack

from sidecar.spool.follower import SpoolFollower
from sidecar.spool.format import SEGMENT_SUFFIX, dead_letter_message, decode_frame, encode_frame
from sidecar.spool.reader import SpoolSource
from sidecar.spool.segments import Spool


def entries(first: int, n: int) -> bytes:
    """Message-mode messages back to back, as the server spools them."""
    return b"".join(msgpack.packb(["t", 1.0, {"i": i}]) for i in range(first, first + n))


def open_spool(path: Path, segment_bytes: int = 1 << 20) -> Spool:
    return Spool(path, segment_bytes=segment_bytes, max_bytes=1 << 24)


def test_the_spool_and_a_follower_are_sources_that_read_alike(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool.append(entries(0, 3))
    spool.sync()
    sources: list[SpoolSource] = [spool, SpoolFollower(tmp_path)]  # mypy checks the protocol
    read = [[e[2]["i"] for e in source.reader().read(100)] for source in sources]
    assert read == [[0, 1, 2], [0, 1, 2]]
    spool.close()


def test_read_commit_and_replay_after_reopen(tmp_path: Path) -> None:
    spool = open_spool(tmp_path, segment_bytes=256)
    for i in range(0, 50, 5):
        spool.append(entries(i, 5))
    reader = spool.reader()
    first = reader.read(20)
    assert [e[2]["i"] for e in first] == list(range(20))
    spool.commit(reader.position)
    spool.close()  # 30 entries were read by nobody: they must come back

    again = open_spool(tmp_path, segment_bytes=256)
    rest = again.reader().read(1000)
    assert [e[2]["i"] for e in rest] == list(range(20, 50))
    assert again.size < 50 * 20  # trimmed segments are gone
    again.close()


def test_segments_are_deleted_only_after_commit(tmp_path: Path) -> None:
    spool = open_spool(tmp_path, segment_bytes=16)
    for i in range(10):
        spool.append(entries(i, 1))
    segments = len(list(tmp_path.glob(f"*{SEGMENT_SUFFIX}")))
    assert segments >= 5
    reader = spool.reader()
    assert len(reader.read(1000)) == 10
    assert len(list(tmp_path.glob(f"*{SEGMENT_SUFFIX}"))) == segments
    spool.commit(reader.position)
    assert len(list(tmp_path.glob(f"*{SEGMENT_SUFFIX}"))) <= 2
    assert spool.pending == 0
    spool.close()


def test_torn_tail_is_skipped_and_counted(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool.append(entries(0, 2))
    spool.append(entries(2, 2))
    spool.close()
    [segment] = tmp_path.glob(f"*{SEGMENT_SUFFIX}")
    data = segment.read_bytes()
    segment.write_bytes(data[:-3])  # a crash in the middle of the last frame

    reopened = open_spool(tmp_path)
    reopened.append(entries(4, 1))
    reader = reopened.reader()
    got = reader.read(1000)
    assert [e[2]["i"] for e in got] == [0, 1, 4]
    assert reader.corrupt_segments == 1
    reopened.close()


def test_corrupt_frame_checksum_is_skipped(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool.append(entries(0, 1))
    spool.close()
    [segment] = tmp_path.glob(f"*{SEGMENT_SUFFIX}")
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF
    segment.write_bytes(bytes(data))
    reopened = open_spool(tmp_path)
    reader = reopened.reader()
    assert reader.read(10) == []
    assert reader.corrupt_segments == 1
    reopened.close()


def test_sync_reports_durable_position(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    position = spool.append(b"\x90")
    assert spool.synced < position
    assert spool.sync() >= position
    spool.close()


def test_decode_frame_turns_odd_messages_into_dead_letters() -> None:
    payload = (
        msgpack.packb(["t", [[1, {"a": 1}]]])
        + dead_letter_message("t", b"\x01\x02", "why", 3.0)
        + msgpack.packb({"not": "a message"})
        + msgpack.packb(7)
    )
    forward, letter, odd_map, odd_int = decode_frame(payload)
    assert forward == ("t", 1.0, {"a": 1})
    assert letter == ("t", 3.0, b"\x01\x02", "why")
    assert odd_map[3].startswith("undecodable")
    assert odd_int[3].startswith("undecodable")


def test_a_follower_in_another_process_reads_commits_and_trims(tmp_path: Path) -> None:
    spool = open_spool(tmp_path, segment_bytes=256)
    follower = SpoolFollower(tmp_path)
    reader = follower.reader()
    for i in range(0, 30, 5):
        spool.append(entries(i, 5))
    got = reader.read(1000)
    assert [e[2]["i"] for e in got] == list(range(30))
    follower.commit(reader.position)
    # The appending side learns what was committed from the checkpoint file.
    assert spool.pending > 0
    spool.refresh()
    assert spool.pending == 0
    assert spool.committed == reader.position
    assert len(list(tmp_path.glob(f"*{SEGMENT_SUFFIX}"))) <= 2
    spool.append(entries(30, 5))
    assert [e[2]["i"] for e in reader.read(1000)] == list(range(30, 35))
    spool.close()


def test_a_follower_waits_for_a_frame_being_written_instead_of_skipping_it(
    tmp_path: Path,
) -> None:
    spool = open_spool(tmp_path)
    spool.append(entries(0, 3))
    spool.close()  # a finished segment before the open one
    spool = open_spool(tmp_path)
    follower = SpoolFollower(tmp_path)
    reader = follower.reader()
    frame = encode_frame(entries(3, 4))
    (open_segment,) = [p for p in tmp_path.glob(f"*{SEGMENT_SUFFIX}") if p.stat().st_size == 0]
    with open_segment.open("ab") as handle:  # half a frame, as a reader may see mid-write
        handle.write(frame[:10])
        handle.flush()
        assert [e[2]["i"] for e in reader.read(1000)] == [0, 1, 2]
        assert reader.read(1000) == []
        handle.write(frame[10:])
        handle.flush()
    assert [e[2]["i"] for e in reader.read(1000)] == [3, 4, 5, 6]
    assert reader.corrupt_segments == 0
    spool.close()


def test_a_torn_frame_in_a_closed_segment_is_still_skipped_by_a_follower(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool.append(entries(0, 2))
    spool.close()
    (torn,) = tmp_path.glob(f"*{SEGMENT_SUFFIX}")
    with torn.open("ab") as handle:
        handle.write(encode_frame(entries(2, 2))[:12])
    spool = open_spool(tmp_path)  # a new open segment follows the torn one
    spool.append(entries(4, 1))
    reader = SpoolFollower(tmp_path).reader()
    assert [e[2]["i"] for e in reader.read(1000)] == [0, 1, 4]
    assert reader.corrupt_segments == 1
    spool.close()
