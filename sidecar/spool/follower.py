"""The spool as a writer in another process sees it: a ``SpoolSource`` over the files alone."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sidecar.spool.format import (
    SEGMENT_SUFFIX,
    Position,
    decode_frame,
    read_checkpoint,
    segment_path,
    trim_point,
    write_checkpoint,
)
from sidecar.spool.reader import Decode, SegmentState, SpoolReader


class SpoolFollower:
    """The spool as a writer in another process sees it: files, sizes and the checkpoint.

    The receiving process appends (``Spool``); this side reads, commits and trims. The
    highest-numbered segment is the one being appended to: its size is read from the
    file, and a frame that is only partly there is waited for, not taken as torn.
    """

    def __init__(self, directory: Path, *, poll_interval: float = 0.005) -> None:
        self.directory = directory
        self.committed = read_checkpoint(directory)
        self._poll = poll_interval
        self._woken = threading.Event()

    def segment_path(self, segment: int) -> Path:
        """The file of segment number ``segment``."""
        return segment_path(self.directory, segment)

    def _segments(self) -> list[int]:
        suffix = SEGMENT_SUFFIX
        with os.scandir(self.directory) as found:
            return [int(e.name[: -len(suffix)]) for e in found if e.name.endswith(suffix)]

    def segment_state(self, segment: int) -> SegmentState:
        """(readable end of ``segment`` or None if gone, whether it is open, the next one)."""
        later = [s for s in self._segments() if s > segment]  # listed before the size is read
        try:
            limit: int | None = os.stat(self.segment_path(segment)).st_size
        except FileNotFoundError:
            limit = None
        return SegmentState(limit, limit is not None and not later, min(later) if later else None)

    def commit(self, position: Position) -> None:
        """Record that the store committed everything before ``position``; trim the spool."""
        write_checkpoint(self.directory, position)
        self.committed = position
        keep_from = trim_point(self.directory, position).segment  # the forwarder's, too
        for segment in self._segments():
            if segment < keep_from:
                self.segment_path(segment).unlink(missing_ok=True)

    def wait(self, timeout: float, longest: float | None = None) -> None:
        """Sleep a little (appends happen in another process: they are polled for).

        ``longest``: how long the caller can afford between polls (at least the poll
        interval); a batch that is filling needs no 5 ms polling, each poll costs a
        directory scan, a stat and a wake-up.
        """
        cap = self._poll if longest is None else max(self._poll, longest)
        self._woken.wait(min(timeout, cap))

    def wake(self) -> None:
        """Wake a reader blocked in ``wait``."""
        self._woken.set()
        self._woken.clear()

    def reader(self, decode: Decode = decode_frame) -> SpoolReader:
        """A reader starting at the committed position."""
        return SpoolReader(self, decode)
