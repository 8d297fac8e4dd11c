"""Spool files for records that could not be sent (the "API spool files" contract).

Files live in ``<spool_dir>/api/``. While written a file is ``<name>.part``; when complete
(after ~1 s or 1 MiB, and at close) it is renamed atomically to ``<name>.msgpack``, with
``<name> = <unix_ms>-<host>-<pid>-<counter>``. The content is a concatenation of msgpack
Fluentd Message-mode entries ``[tag, time, record]``: exactly the bytes fluent-logger puts
on the wire, so a packet the sender could not deliver is spooled unchanged.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from io import FileIO
from pathlib import Path

ROTATE_BYTES = 1 << 20
"""A spool file is closed and renamed once it holds this many bytes."""
ROTATE_SECONDS = 1.0
"""... or once it has been open this long."""


class SpoolWriter:
    """Appends packed entries to rotating spool files; thread-safe."""

    def __init__(self, spool_dir: Path, host: str | None = None, pid: int | None = None) -> None:
        self.directory = spool_dir / "api"
        self.host = (host or socket.gethostname()).replace("/", "_").replace(" ", "_")
        self.pid = os.getpid() if pid is None else pid
        self._lock = threading.Lock()
        self._file: FileIO | None = None
        self._path: Path | None = None
        self._opened = 0.0
        self._size = 0
        self._counter = 0
        self.files_completed = 0
        """How many files this writer has renamed to .msgpack."""

    def write(self, packed: bytes) -> None:
        """Append one or more packed entries; raises OSError when the disk refuses, and then
        none of them is in the file (so whoever counts them counts them as not kept)."""
        with self._lock:
            if self._file is None:
                self._open()
            assert self._file is not None
            file, start = self._file, self._size
            try:
                view = memoryview(packed)
                while view:  # unbuffered: a short write (the disk filling up) is seen here
                    view = view[file.write(view) :]
            except OSError:
                # A part of an entry would make the rest of the file unreadable: cut it off.
                with contextlib.suppress(OSError):
                    os.ftruncate(file.fileno(), start)
                    file.seek(start)
                raise
            self._size += len(packed)
            if self._size >= ROTATE_BYTES:
                self._complete()

    def rotate_if_due(self) -> None:
        """Complete the current file if it is old enough (called periodically by the emitter)."""
        with self._lock:
            if self._file is not None and time.monotonic() - self._opened >= ROTATE_SECONDS:
                self._complete()

    def close(self) -> None:
        """Complete the current file, if any."""
        with self._lock:
            if self._file is not None:
                self._complete()

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._counter += 1
        name = f"{time.time_ns() // 1_000_000}-{self.host}-{self.pid}-{self._counter}"
        self._path = self.directory / f"{name}.part"
        # Unbuffered: every write reaches the kernel, or fails, while its records are counted
        # (the emitter spools whole batches; the request path only when the queue is full).
        self._file = self._path.open("xb", buffering=0)
        self._opened = time.monotonic()
        self._size = 0

    def _complete(self) -> None:
        assert self._file is not None
        assert self._path is not None
        file, path = self._file, self._path
        self._file = None
        self._path = None
        try:
            os.fsync(file.fileno())
        finally:
            file.close()
        final = path.with_suffix(".msgpack")
        os.replace(path, final)
        self.files_completed += 1
