"""The run mark: each api process run's highest assigned ``seq``, published in a file that
outlives the process, so that the records a killed process never sent are counted too.

The gap accounting sees holes below the highest seq stored; the records a SIGKILLed worker
still held (queued for the emitter thread) are the highest seqs of its run, above anything
stored. The run mark closes that tail: ``<spool>/runs/<run_id>.run`` holds the run's
host, pid and run_id, and its highest seq, written into a shared memory map once per record
(a plain store into the page cache: no system call on the request path). The process holds
an exclusive ``flock`` on the file for its whole life; the kernel drops it however the
process ends. The sidecar (``sidecar.ingest.runends``) takes the lock of a file whose
process has ended, stores "this run ended at seq N" and deletes the file.

File layout (``SIZE`` bytes; the sidecar's reader is ``sidecar.ingest.runends``, which
imports nothing of the api): ``MAGIC`` (8 bytes), the seq (uint64, little-endian, at
``SEQ_OFFSET``), then the run as JSON (``{"host", "pid", "run_id"}``) at ``HEADER_OFFSET``,
NUL-padded.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import mmap
import os
import struct
import threading
from collections.abc import Callable
from pathlib import Path

MAGIC = b"PLRUN\x00\x00\x01"
SEQ_OFFSET = 8
HEADER_OFFSET = 16
SIZE = 4096
SUFFIX = ".run"
_SEQ = struct.Struct("<Q")


def runs_directory(spool_dir: Path) -> Path:
    """Where the api's run marks live: ``<spool>/runs/``."""
    return spool_dir / "runs"


class RunMark:
    """An iterator of seqs from 1 that publishes each one it hands out (``next(mark)``).

    Made by one process run; ``RecordBuilder`` takes it as its seq counter. Handing out and
    publishing happen under a lock, so the published value is always the highest, whichever
    threads number records.
    """

    def __init__(self, spool_dir: Path, host: str, pid: int, run_id: str) -> None:
        directory = runs_directory(spool_dir)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{run_id}{SUFFIX}"
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            # Locked before the file has its name: whoever sees a .run file unlocked
            # knows its process has ended.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(fd, SIZE)
            self._map = mmap.mmap(fd, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            header = json.dumps({"host": host, "pid": pid, "run_id": run_id}).encode()
            if HEADER_OFFSET + len(header) > SIZE:
                raise ValueError("run header too long")
            self._map[: len(MAGIC)] = MAGIC
            self._map[HEADER_OFFSET : HEADER_OFFSET + len(header)] = header
            os.link(temporary, self.path)  # FileExistsError rather than replace a live mark
            os.unlink(temporary)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        self._fd = fd  # held open (and locked) until the process ends
        self._count = itertools.count(1)
        self._lock = threading.Lock()
        self._publish: Callable[[mmap.mmap, int, int], None] = _SEQ.pack_into
        self.final = 0
        """The last seq published, once closed."""

    def __iter__(self) -> RunMark:
        return self

    def __next__(self) -> int:
        with self._lock:  # another thread (shadow records) may number too: publish the max
            seq = next(self._count)
            self._publish(self._map, SEQ_OFFSET, seq)
        return seq

    def close(self) -> None:
        """The run is over (graceful stop, after the emitter's flush): release the mark for
        the sidecar. Seqs handed out after this are no longer published."""
        if self._fd < 0:
            return
        self.final = self.published
        self._publish = _no_publish
        self._map.close()
        os.close(self._fd)  # the lock goes with it
        self._fd = -1

    @property
    def published(self) -> int:
        """The highest seq handed out so far (0: none)."""
        if self._fd < 0:
            return self.final
        value: int = _SEQ.unpack_from(self._map, SEQ_OFFSET)[0]
        return value


def _no_publish(_map: mmap.mmap, _offset: int, _seq: int) -> None:
    """What a closed mark does with a seq."""
