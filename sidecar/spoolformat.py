"""The spool's on-disk format: framed segments, the checkpoint, spooled dead letters.

A frame is ``length (u32) | crc32 (u32) | payload``; a payload is forward-protocol
messages back to back, exactly as a client sent them, or
``[tag, time, raw_bytes, {DEAD_LETTER: reason}]`` for data already known to be bad.
"""

from __future__ import annotations

import binascii
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from sidecar.forward import ProtocolError, decode_message, ext_hook

FRAME_HEADER = struct.Struct(">II")
SEGMENT_SUFFIX = ".seg"
CHECKPOINT = "checkpoint"
READ_CHUNK = 1 << 20
DEAD_LETTER = "predlog.dead_letter"
"""Option key marking a spooled message as a dead letter (its record is the raw bytes)."""
NO_LIMIT = 1 << 62


@dataclass(frozen=True, order=True)
class Position:
    """A place in the spool: everything before ``offset`` in ``segment`` (and earlier)."""

    segment: int
    offset: int


def dead_letter_message(tag: str, raw: bytes, reason: str, when: float) -> bytes:
    """A spoolable message that the writer stores as a dead letter."""
    packed: bytes = msgpack.packb([tag, when, raw, {DEAD_LETTER: reason}])
    return packed


def decode_frame(payload: bytes) -> list[Any]:
    """The entries of one frame's messages."""
    entries: list[Any] = []
    unpacker = msgpack.Unpacker(raw=False, ext_hook=ext_hook, max_buffer_size=NO_LIMIT)
    unpacker.feed(payload)
    for message in unpacker:
        if message.__class__ is list and len(message) == 3 and message[1].__class__ is float:
            entries.append(message)  # Message mode, the common case: already an entry
            continue
        option = message[3] if isinstance(message, list) and len(message) == 4 else None
        if isinstance(option, dict) and DEAD_LETTER in option:
            entries.append((message[0], message[1], message[2], option[DEAD_LETTER]))
            continue
        try:
            entries += decode_message(message, NO_LIMIT)[0]
        except ProtocolError as exc:  # checked on receipt; kept rather than lost if not
            raw: bytes = msgpack.packb(message, default=repr)
            entries.append(("", 0.0, raw, f"undecodable spooled message: {exc.reason}"))
    return entries


def encode_frame(payload: bytes) -> bytes:
    """A payload with its length and checksum header."""
    # binascii keeps the GIL (zlib releases it for large buffers, and then has to wait to
    # get it back from the writer thread): the checksum is cheaper than that wait.
    return FRAME_HEADER.pack(len(payload), binascii.crc32(payload)) + payload


def read_checkpoint(directory: Path) -> Position:
    """The committed position recorded in ``directory`` (the start when there is none)."""
    try:
        data = json.loads((directory / CHECKPOINT).read_text())
        return Position(int(data["segment"]), int(data["offset"]))
    except (OSError, ValueError, KeyError, TypeError):
        return Position(0, 0)


def write_checkpoint(directory: Path, position: Position) -> None:
    """Record ``position`` as committed (written to a temporary file, renamed into place)."""
    # No fsync: a checkpoint lost to a machine crash only replays batches the store
    # already holds, and those inserts do nothing (job_id is unique).
    tmp = directory / f"{CHECKPOINT}.tmp"
    tmp.write_text(json.dumps({"segment": position.segment, "offset": position.offset}))
    os.replace(tmp, directory / CHECKPOINT)


def segment_path(directory: Path, segment: int) -> Path:
    """The file of segment number ``segment``."""
    return directory / f"{segment:020d}{SEGMENT_SUFFIX}"
