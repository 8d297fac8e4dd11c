"""The sidecar's spool: append-only segment files on local disk, the queue to the store.

A frame is ``length (u32) | crc32 (u32) | payload``; a payload holds forward-protocol
messages exactly as a client sent them (so the hot path never re-encodes), or
``[tag, time, raw_bytes, {DEAD_LETTER: reason}]`` for data already known to be bad
(``sidecar.spool.format`` has the details). A reader decodes payloads with the function it is
given: into entries ``(tag, time, record)`` or ``(tag, time, raw, reason)`` by default,
into records and dead letters for the writer (``decoding.decode_payload``). Frames
are written whole with ``os.write`` under a lock, so the reader thread only ever reads
up to the published end of the open segment. Readers see the spool through the
``SpoolSource`` protocol (``sidecar.spool.reader``); a writer in another process follows
the files with ``SpoolFollower`` (``sidecar.spool.follower``).

Durability: every append reaches the kernel at once (it survives a crash of the
process); ``sync()`` fsyncs, and the server calls it before acknowledging a chunk and
at least every ``fsync_interval`` otherwise. The checkpoint file records up to where the
store has committed; segments wholly before it are deleted, the rest replayed on start.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

from sidecar.spool.format import (
    SEGMENT_SUFFIX,
    Position,
    decode_frame,
    encode_frame,
    read_checkpoint,
    segment_path,
    trim_point,
    write_checkpoint,
)
from sidecar.spool.reader import Decode, SegmentState, SpoolReader


class SpoolSink(Protocol):
    """The spool as what feeds it sees it (the api spool's ingestion): append, then fsync."""

    @property
    def full(self) -> bool:
        """Whether the cap is reached: stop feeding until the store catches up."""
        ...

    def append(self, payload: bytes) -> int:
        """Write one frame; the position to pass to ``sync`` for it to be durable."""
        ...

    def sync(self) -> int:
        """fsync what is appended so far (blocking); the position now durable."""
        ...


class Spool:
    """Append-only segment files plus a committed-position checkpoint, in one directory."""

    def __init__(self, directory: Path, *, segment_bytes: int, max_bytes: int) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._data = threading.Condition(self._lock)
        self.committed = self._read_checkpoint()
        self._sizes: dict[int, int] = {}
        keep_from = trim_point(directory, self.committed).segment
        for path in directory.glob(f"*{SEGMENT_SUFFIX}"):
            segment = int(path.stem)
            if segment < keep_from:
                path.unlink()  # a crash came between the checkpoint and the trim
            else:
                self._sizes[segment] = path.stat().st_size
        # Never append to a segment a crash may have torn: start a fresh one
        # (and never reuse the checkpoint's segment number: its offset would be wrong).
        self._current = max(self._sizes, default=self.committed.segment) + 1
        self._fd = self._open_segment(self._current)
        self._end = 0
        self.appended = 0
        """Bytes appended since start (a monotonic position for ``synced``)."""
        self.synced = 0
        """Of ``appended``, the bytes known to be on disk."""
        self._closed = False

    def segment_path(self, segment: int) -> Path:
        """The file of segment number ``segment``."""
        return segment_path(self.directory, segment)

    def _open_segment(self, segment: int) -> int:
        fd = os.open(self.segment_path(segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._sizes[segment] = 0
        self._fsync_directory()
        return fd

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @property
    def size(self) -> int:
        """Bytes of segment files on disk (not yet trimmed)."""
        with self._lock:  # the writer thread trims concurrently
            return sum(self._sizes.values())

    @property
    def pending(self) -> int:
        """Bytes not yet committed to the store."""
        with self._lock:
            on_disk = sum(n for s, n in self._sizes.items() if s >= self.committed.segment)
        return max(on_disk - self.committed.offset, 0)

    @property
    def fill_ratio(self) -> float:
        """How full the spool is, relative to its cap."""
        return self.size / self.max_bytes

    @property
    def full(self) -> bool:
        """Whether the cap is reached: the server stops reading until the store catches up."""
        return self.size >= self.max_bytes

    def append(self, payload: bytes) -> int:
        """Write one frame; the position to pass to ``sync`` for it to be durable."""
        frame = encode_frame(payload)
        with self._data:
            if self._closed:
                raise RuntimeError("spool is closed")
            view = memoryview(frame)
            while view:
                view = view[os.write(self._fd, view) :]
            self._end += len(frame)
            self._sizes[self._current] += len(frame)
            self.appended += len(frame)
            position = self.appended
            if self._end >= self.segment_bytes:
                self._rotate()
            self._data.notify_all()
        return position

    def _rotate(self) -> None:
        os.fsync(self._fd)
        os.close(self._fd)
        self.synced = self.appended
        self._current += 1
        self._fd = self._open_segment(self._current)
        self._end = 0

    def sync(self) -> int:
        """fsync what is appended so far (blocking); the position now durable."""
        with self._lock:
            if self._closed:
                return self.synced
            target = self.appended
            fd = os.dup(self._fd)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        with self._lock:
            self.synced = max(self.synced, target)
            return self.synced

    def wait(self, timeout: float, longest: float | None = None) -> None:
        """Block until something is appended or ``timeout`` passes (``longest``: unused here,
        appends wake the reader)."""
        with self._data:
            self._data.wait(timeout)

    def wake(self) -> None:
        """Wake a reader blocked in ``wait``."""
        with self._data:
            self._data.notify_all()

    def close(self) -> None:
        """fsync and close the open segment."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.fsync(self._fd)
            os.close(self._fd)
            self.synced = self.appended
            if trim_point(self.directory, self.committed) == Position(self._current, self._end):
                # Everything is in the store: leave no segment behind.
                self.segment_path(self._current).unlink(missing_ok=True)
                del self._sizes[self._current]

    def _read_checkpoint(self) -> Position:
        return read_checkpoint(self.directory)

    def commit(self, position: Position) -> None:
        """Record that the store committed everything before ``position``; trim the spool."""
        write_checkpoint(self.directory, position)
        self.committed = position
        self.trim()

    def trim(self) -> None:
        """Delete the segments that the store's checkpoint and the forwarder's cursor (if
        any) have both passed."""
        for segment in self._forget_before(trim_point(self.directory, self.committed)):
            self.segment_path(segment).unlink(missing_ok=True)

    def refresh(self) -> None:
        """Re-read the checkpoint that a writer in another process (``SpoolFollower``) keeps."""
        position = read_checkpoint(self.directory)
        if position > self.committed:
            self.committed = position
            # The follower deleted what both cursors passed; forget those.
            self._forget_before(trim_point(self.directory, position))

    def _forget_before(self, position: Position) -> list[int]:
        with self._lock:
            done = [s for s in self._sizes if s < position.segment and s != self._current]
            for segment in done:
                del self._sizes[segment]
        return done

    def reader(self, decode: Decode = decode_frame) -> SpoolReader:
        """A reader starting at the committed position (the writer loop's, one at a time)."""
        return SpoolReader(self, decode)

    def segment_state(self, segment: int) -> SegmentState:
        """(readable end of ``segment`` or None if gone, whether it is open, the next one)."""
        with self._lock:
            is_open = segment == self._current
            limit = self._end if is_open else self._sizes.get(segment)
            later = [s for s in self._sizes if s > segment]
            return SegmentState(limit, is_open, min(later) if later else None)
