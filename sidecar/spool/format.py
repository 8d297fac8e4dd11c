"""The spool's on-disk format: framed segments, the checkpoint, spooled dead letters.

A frame is ``length (u32) | crc32 (u32) | payload``. A payload is ``BATCH``, then one
msgpack array of forward-protocol messages, each exactly as a client sent it (so that
the writer decodes a whole frame in one call); payloads spooled before there was
``BATCH`` hold the messages back to back, and are still read. A message may also be
``[tag, time, raw_bytes, {DEAD_LETTER: reason}]``, for data already known to be bad.
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

from sidecar.ingest.protocol import ProtocolError, decode_message, ext_hook

FRAME_HEADER = struct.Struct(">II")
SEGMENT_SUFFIX = ".seg"
CHECKPOINT = "checkpoint"
FORWARD_CHECKPOINT = "checkpoint.forward"
"""The onward forwarder's cursor (``sidecar.onward``): while it exists, segments are kept
until both it and the store's checkpoint have passed them."""
READ_CHUNK = 1 << 20
DEAD_LETTER = "predlog.dead_letter"
"""Option key marking a spooled message as a dead letter (its record is the raw bytes)."""
NO_LIMIT = 1 << 62
BATCH = b"\xc1"
"""First byte of a payload that is one array of messages. msgpack never uses 0xc1, so a
payload of messages back to back (the older form) never starts with it."""


@dataclass(frozen=True, order=True)
class Position:
    """A place in the spool: everything before ``offset`` in ``segment`` (and earlier)."""

    segment: int
    offset: int


def dead_letter_message(tag: str, raw: bytes, reason: str, when: float) -> bytes:
    """A spoolable message that the writer stores as a dead letter."""
    packed: bytes = msgpack.packb([tag, when, raw, {DEAD_LETTER: reason}])
    return packed


def batch_header(count: int) -> bytes:
    """What a payload of ``count`` messages starts with (their bytes follow)."""
    if count < 16:
        return BATCH + bytes((0x90 | count,))  # fixarray
    if count < 1 << 16:
        return BATCH + b"\xdc" + count.to_bytes(2, "big")  # array 16
    return BATCH + b"\xdd" + count.to_bytes(4, "big")  # array 32


def batch_payload(messages: bytes, count: int) -> bytes:
    """The payload for ``count`` messages (``messages``: their bytes back to back)."""
    return batch_header(count) + messages


def split_messages(payload: bytes) -> list[bytes]:
    """Each message of a payload, as its own bytes (either form of payload)."""
    unpacker = msgpack.Unpacker(max_buffer_size=NO_LIMIT)
    if payload[:1] == BATCH:
        unpacker.feed(memoryview(payload)[1:])
        count = unpacker.read_array_header()
    else:
        unpacker.feed(payload)
        count = -1
    messages = []
    start = unpacker.tell()
    while count and start < len(payload):
        unpacker.skip()
        end = unpacker.tell()
        messages.append(payload[start:end] if count < 0 else payload[start + 1 : end + 1])
        start, count = end, count - 1
    return messages


def decode_frame(payload: bytes) -> list[Any]:
    """The entries of one frame's messages: ``(tag, time, record)``, or ``(tag, time, raw,
    reason)`` for what is known to be bad (a message that does not decode among them)."""
    entries: list[Any] = []
    for raw in split_messages(payload):
        try:
            message = msgpack.unpackb(raw, raw=False, ext_hook=ext_hook, strict_map_key=False)
        except Exception as exc:  # e.g. a string that is not UTF-8 inside a skipped record
            entries.append(("", 0.0, raw, f"undecodable spooled message: {exc}"))
            continue
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
            entries.append(("", 0.0, raw, f"undecodable spooled message: {exc.reason}"))
    return entries


def encode_frame(payload: bytes) -> bytes:
    """A payload with its length and checksum header."""
    # binascii keeps the GIL (zlib releases it for large buffers, and then has to wait to
    # get it back from the writer thread): the checksum is cheaper than that wait.
    return FRAME_HEADER.pack(len(payload), binascii.crc32(payload)) + payload


def read_checkpoint(directory: Path, name: str = CHECKPOINT) -> Position:
    """The committed position recorded in ``directory`` (the start when there is none)."""
    try:
        data = json.loads((directory / name).read_text())
        return Position(int(data["segment"]), int(data["offset"]))
    except (OSError, ValueError, KeyError, TypeError):
        return Position(0, 0)


def write_checkpoint(directory: Path, position: Position, name: str = CHECKPOINT) -> None:
    """Record ``position`` as committed (written to a temporary file, renamed into place)."""
    # No fsync: a checkpoint lost to a machine crash only replays batches the store
    # already holds, and those inserts do nothing (job_id is unique).
    tmp = directory / f"{name}.tmp"
    tmp.write_text(json.dumps({"segment": position.segment, "offset": position.offset}))
    os.replace(tmp, directory / name)


def trim_point(directory: Path, committed: Position) -> Position:
    """Up to where segments may go: the store's ``committed`` position, or the forwarder's
    cursor where there is one and it is behind."""
    if not (directory / FORWARD_CHECKPOINT).exists():
        return committed
    return min(committed, read_checkpoint(directory, FORWARD_CHECKPOINT))


def segment_path(directory: Path, segment: int) -> Path:
    """The file of segment number ``segment``."""
    return directory / f"{segment:020d}{SEGMENT_SUFFIX}"
