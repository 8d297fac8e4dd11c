"""Runs of the api that ended: their last seq, from the run marks in ``<spool>/runs/``.

Each api process run keeps ``<run_id>.run`` there (written by ``api.runmark``): its host,
pid and run_id, and the highest seq it handed out, in a file the process holds an
exclusive ``flock`` on for its whole life. A file whose lock can be taken belongs to a run
that has ended, gracefully or killed. Its seq is the run's last: the sidecar stores it as
the run's ``max_seq`` (``sidecar.store.runends``), so the gap accounting counts every
record of the run that never reached the store, the tail a killed process never sent
included; then the file is deleted.

File layout (``SIZE`` bytes, little-endian): ``MAGIC`` (8 bytes), the seq (uint64) at
``SEQ_OFFSET``, the run as JSON ``{"host", "pid", "run_id"}`` at ``HEADER_OFFSET``,
NUL-padded. The sidecar imports nothing of the api, so the layout is stated here too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("predlog.sidecar")

MAGIC = b"PLRUN\x00\x00\x01"
SEQ_OFFSET = 8
HEADER_OFFSET = 16
SIZE = 4096
SUFFIX = ".run"
_SEQ = struct.Struct("<Q")


@dataclass(frozen=True)
class RunEnd:
    """An api process run that has ended, and the last seq it handed out."""

    host: str
    pid: int
    run_id: str
    last_seq: int
    path: Path
    """Its run mark, to delete once the end is stored."""


def runs_directory(spool_dir: Path) -> Path:
    """Where the api keeps its run marks: ``<spool>/runs/``."""
    return spool_dir / "runs"


def parse_mark(data: bytes) -> tuple[str, int, str, int] | None:
    """``(host, pid, run_id, seq)`` from a run mark's bytes; None if it is not one."""
    if len(data) < HEADER_OFFSET or not data.startswith(MAGIC):
        return None
    (seq,) = _SEQ.unpack_from(data, SEQ_OFFSET)
    try:
        run = json.loads(data[HEADER_OFFSET:].rstrip(b"\x00"))
        host, pid, run_id = run["host"], run["pid"], run["run_id"]
    except (ValueError, KeyError, TypeError):
        return None
    if not (isinstance(host, str) and isinstance(pid, int) and isinstance(run_id, str)):
        return None
    return host, pid, run_id, int(seq)


def ended_runs(spool_dir: Path) -> list[RunEnd]:
    """The run marks of runs that have ended (their lock is free), by file name.

    A mark that is not one (garbage, cut short) is deleted with a warning: nothing can be
    learnt from it, and it would be read again on every scan."""
    directory = runs_directory(spool_dir)
    if not directory.is_dir():
        return []
    ended: list[RunEnd] = []
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process is still running
            data = os.pread(fd, SIZE, 0)
        finally:
            os.close(fd)  # the lock goes with it; the api never takes it again
        parsed = parse_mark(data)
        if parsed is None:
            log.warning("not a run mark, deleted: %s", path)
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        host, pid, run_id, seq = parsed
        ended.append(RunEnd(host, pid, run_id, seq, path))
    return ended


def forget(ends: list[RunEnd]) -> None:
    """Delete the run marks of ``ends`` (their ends are stored)."""
    for end in ends:
        with contextlib.suppress(FileNotFoundError):
            end.path.unlink()
