"""Spool files: <unix_ms>-<host>-<pid>-<counter>.part while written, .msgpack when complete."""

from __future__ import annotations

import time
from pathlib import Path

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
