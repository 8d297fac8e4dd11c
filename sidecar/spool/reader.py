"""How the spool is read: the ``SpoolSource`` protocol a spool offers its readers, and the reader.

Two classes are sources: ``Spool`` (``segments``), when the writer loop runs in the
receiving process, and ``SpoolFollower`` (``follower``), when it runs in a process of its
own and sees only the files. A ``SpoolReader`` reads frames in order from the committed
position over either; the writer loop (``sidecar.writer.loop``) reads, then commits.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from sidecar.spool.format import FRAME_HEADER, READ_CHUNK, Position, decode_frame

Decode = Callable[[bytes], list[Any]]
"""Turns one frame's payload into the items a reader returns."""


class SegmentState(NamedTuple):
    """What a reader may read of one segment, now."""

    limit: int | None
    """The readable end of the segment (bytes), None if the segment is gone."""
    is_open: bool
    """Whether it is being appended to: a partial frame at its end is waited for, not torn."""
    following: int | None
    """The next segment's number, if there is one."""


class SpoolSource(Protocol):
    """A spool as its readers see it (``Spool`` or ``SpoolFollower``)."""

    committed: Position
    """Up to where the store has committed: a new reader starts here."""

    def segment_path(self, segment: int) -> Path:
        """The file of segment number ``segment``."""
        ...

    def segment_state(self, segment: int) -> SegmentState:
        """How much of ``segment`` can be read, whether it is open, which one follows."""
        ...

    def reader(self, decode: Decode = decode_frame) -> SpoolReader:
        """A reader starting at the committed position."""
        ...

    def commit(self, position: Position) -> None:
        """Record that the store committed everything before ``position``; trim the spool."""
        ...

    def wait(self, timeout: float, longest: float | None = None) -> None:
        """Block until more may be readable, at most ``timeout`` seconds (``longest``: how
        long the caller can afford between polls, for a source that polls)."""
        ...

    def wake(self) -> None:
        """Wake a reader blocked in ``wait``."""
        ...


class SpoolReader:
    """Reads spooled entries in order, from the committed position on."""

    def __init__(
        self, spool: SpoolSource, decode: Decode = decode_frame, start: Position | None = None
    ) -> None:
        """``decode``: what a payload becomes (a list of entries, or of whatever it makes);
        ``start``: where to begin (default: the committed position)."""
        self._spool = spool
        self._decode = decode
        self.position = spool.committed if start is None else start
        self.corrupt_segments = 0
        """Segments whose tail was skipped: torn by a crash, or a checksum failed."""
        self._handle: Any = None
        self._handle_segment = -1

    def read(self, max_entries: int) -> list[Any]:
        """Up to about ``max_entries`` entries (whole frames) after ``position``; advances it."""
        entries: list[Any] = []
        while len(entries) < max_entries:
            limit, is_open, following = self._spool.segment_state(self.position.segment)
            if limit is None or self.position.offset >= limit:
                if is_open or following is None:
                    break
                self.position = Position(following, 0)
                continue
            before = self.position
            self._read_frames(limit, is_open, following, max_entries, entries)
            if self.position == before:
                break
        return entries

    def _file(self) -> Any:
        if self._handle_segment != self.position.segment:
            self.close()
            self._handle = self._spool.segment_path(self.position.segment).open("rb")
            self._handle_segment = self.position.segment
        return self._handle

    def _read_frames(
        self,
        limit: int,
        is_open: bool,
        following: int | None,
        max_entries: int,
        entries: list[Any],
    ) -> None:
        base = self.position.offset
        handle = self._file()
        handle.seek(base)
        buffer: bytes = handle.read(min(READ_CHUNK, limit - base))
        offset = 0
        while len(entries) < max_entries and offset < len(buffer):
            if limit - base - offset < FRAME_HEADER.size:
                if is_open:
                    break  # being appended (a follower saw half a write): read it next time
                self._skip(limit, following)
                return
            if offset + FRAME_HEADER.size > len(buffer):
                break  # the header straddles the chunk: next pass starts at it
            length, crc = FRAME_HEADER.unpack_from(buffer, offset)
            end = offset + FRAME_HEADER.size + length
            if base + end > limit:
                if is_open:
                    break
                self._skip(limit, following)  # a header promising more than is there
                return
            if end > len(buffer):
                if offset:
                    break
                handle.seek(base)
                buffer = handle.read(end)
            payload = buffer[offset + FRAME_HEADER.size : end]
            try:
                if binascii.crc32(payload) != crc:
                    raise ValueError("checksum")
                entries += self._decode(payload)
            except Exception:  # a damaged frame: the rest of its segment is not trusted
                self._skip(limit, following)
                return
            offset = end
        self.position = Position(self.position.segment, base + offset)

    def _skip(self, limit: int, following: int | None) -> None:
        self.corrupt_segments += 1
        if following is not None:
            self.position = Position(following, 0)
        else:
            self.position = Position(self.position.segment, limit)

    def close(self) -> None:
        """Close the open segment file."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self._handle_segment = -1
