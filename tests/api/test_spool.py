"""Spool files: <unix_ms>-<host>-<pid>-<counter>.part while written, .msgpack when complete."""

from __future__ import annotations

import errno
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest

from api import spool as spool_module
from api.spool import SpoolWriter
from sidecar.record import TAG


def entry(i: int) -> bytes:
    return msgpack.packb([TAG, time.time(), {"seq": i}])  # type: ignore[no-any-return]


def test_a_file_is_part_until_complete(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, host="pod-a", pid=42)
    writer.write(entry(1))
    (part,) = (tmp_path / "api").iterdir()
    assert part.suffix == ".part"
    ms, rest = part.stem.split("-", 1)
    assert ms.isdigit()
    assert len(ms) == 13
    assert rest == "pod-a-42-1"
    writer.close()
    (done,) = (tmp_path / "api").iterdir()
    assert done == part.with_suffix(".msgpack")
    with done.open("rb") as fh:
        assert [e[2]["seq"] for e in msgpack.Unpacker(fh)] == [1]
    assert writer.files_completed == 1


def test_rotates_by_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool_module, "ROTATE_BYTES", 100)
    writer = SpoolWriter(tmp_path, host="h", pid=1)
    for i in range(20):
        writer.write(entry(i))
    writer.close()
    files = sorted((tmp_path / "api").glob("*.msgpack"), key=lambda p: int(p.stem.split("-")[-1]))
    assert len(files) > 3
    seqs: list[int] = []
    for path in files:
        with path.open("rb") as fh:
            seqs.extend(e[2]["seq"] for e in msgpack.Unpacker(fh))
    assert seqs == list(range(20))


def test_rotates_by_age(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool_module, "ROTATE_SECONDS", 0.0)
    writer = SpoolWriter(tmp_path, host="h", pid=1)
    writer.write(entry(1))
    writer.rotate_if_due()
    assert [p.suffix for p in (tmp_path / "api").iterdir()] == [".msgpack"]
    writer.rotate_if_due()  # nothing open: nothing to do
    writer.close()
    assert writer.files_completed == 1


class FillingDisk:
    """A spool file on a disk with ``room`` bytes left: writes go short, then fail."""

    def __init__(self, file: Any, room: int) -> None:
        self.file = file
        self.room = room

    def write(self, data: memoryview) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = self.file.write(data[: self.room])
        self.room -= n
        return int(n)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)


def test_a_full_disk_keeps_no_part_of_an_entry(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, host="h", pid=1)
    writer.write(entry(1))
    real = writer._file
    writer._file = FillingDisk(real, room=5)  # type: ignore[assignment]
    with pytest.raises(OSError, match="No space"):
        writer.write(entry(2))  # 5 bytes of it land, then the disk is full: cut off again
    writer._file = real
    writer.write(entry(3))  # room again
    writer.close()
    (done,) = (tmp_path / "api").glob("*.msgpack")
    with done.open("rb") as fh:
        assert [e[2]["seq"] for e in msgpack.Unpacker(fh)] == [1, 3]
