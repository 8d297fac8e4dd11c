"""The Fluentd forward protocol v1, decoding side: modes, EventTime, handshake digests.

Pure functions over already-unpacked msgpack objects, so that the server and the
tests share one reading of the spec (fluent/fluentd wiki, "Forward Protocol
Specification v1").
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from typing import Any

import msgpack

EVENT_TIME_EXT = 0
"""msgpack extension type of EventTime: 4-byte seconds + 4-byte nanoseconds, big endian."""

_EVENT_TIME = struct.Struct(">II")

Event = tuple[str, float, Any]
"""One event: (tag, time in epoch seconds, record)."""


class ProtocolError(Exception):
    """The peer broke the protocol; the connection is closed and counted."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def ext_hook(code: int, data: bytes | memoryview) -> Any:
    """Decode EventTime to float seconds; other extension types stay opaque."""
    if code == EVENT_TIME_EXT and len(data) == _EVENT_TIME.size:
        seconds, nanos = _EVENT_TIME.unpack(data)
        return seconds + nanos / 1e9
    return msgpack.ExtType(code, bytes(data))


def encode_event_time(timestamp: float) -> msgpack.ExtType:
    """EventTime for ``timestamp`` (what Fluentd and Fluent Bit send)."""
    return msgpack.ExtType(EVENT_TIME_EXT, event_time_bytes(timestamp))


def event_time_bytes(timestamp: float) -> bytes:
    """The 8 bytes of an EventTime extension for ``timestamp``."""
    seconds = int(timestamp)
    nanos = round((timestamp - seconds) * 1e9)
    return _EVENT_TIME.pack(seconds, min(nanos, 999_999_999))


def new_unpacker(max_buffer_size: int) -> msgpack.Unpacker:
    """A streaming unpacker with the forward protocol's settings and a size bound."""
    return msgpack.Unpacker(
        raw=False,
        ext_hook=ext_hook,
        max_buffer_size=max_buffer_size,
        strict_map_key=False,
    )


def _time(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError("bad event time")
    return float(value)


def decode_message(obj: Any, max_bytes: int) -> tuple[list[Event], Any]:
    """The events of one transport-phase message and its ``chunk`` option (or None).

    Message ``[tag, time, record, option?]``, Forward ``[tag, [[time, record], ...],
    option?]``, PackedForward ``[tag, bin, option?]`` and CompressedPackedForward
    (``option.compressed == "gzip"``).
    """
    if not isinstance(obj, list | tuple) or len(obj) < 2 or not isinstance(obj[0], str):
        raise ProtocolError("not a forward-protocol message")
    tag: str = obj[0]
    second = obj[1]
    if isinstance(second, int | float) and not isinstance(second, bool):
        if len(obj) not in (3, 4):
            raise ProtocolError("bad Message mode entry")
        option = _option(obj, 3)
        return [(tag, float(second), obj[2])], option.get("chunk")
    option = _option(obj, 2)
    if len(obj) > 3:
        raise ProtocolError("bad Forward mode entry")
    if isinstance(second, list | tuple):
        return [_entry(tag, e) for e in second], option.get("chunk")
    if isinstance(second, bytes | str):
        packed = second.encode() if isinstance(second, str) else second
        compressed = option.get("compressed")
        if compressed == "gzip":
            packed = gunzip(packed, max_bytes)
        elif compressed not in (None, "text"):
            raise ProtocolError(f"unsupported compression {compressed!r}")
        return _unpack_entries(tag, packed, max_bytes), option.get("chunk")
    raise ProtocolError("bad event time")


def _option(obj: Any, index: int) -> dict[Any, Any]:
    if len(obj) <= index or obj[index] is None:
        return {}
    option = obj[index]
    if not isinstance(option, dict):
        raise ProtocolError("option is not a map")
    return option


def _entry(tag: str, entry: Any) -> Event:
    if not isinstance(entry, list | tuple) or len(entry) != 2:
        raise ProtocolError("bad Forward mode entry")
    return (tag, _time(entry[0]), entry[1])


def _unpack_entries(tag: str, packed: bytes, max_bytes: int) -> list[Event]:
    unpacker = new_unpacker(max(max_bytes, len(packed)))
    try:
        unpacker.feed(packed)
        events = []
        end = 0
        for entry in unpacker:
            events.append(_entry(tag, entry))
            end = unpacker.tell()  # tell() also counts a partial object after the last one
    except ProtocolError:
        raise
    except Exception as exc:  # msgpack raises several unrelated types for bad bytes
        raise ProtocolError(f"bad PackedForward entries: {type(exc).__name__}") from exc
    if end != len(packed):
        raise ProtocolError("truncated PackedForward entries")
    return events


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """Decompress one or more concatenated gzip members, refusing more than ``max_bytes``."""
    out = bytearray()
    rest = data
    try:
        while rest:
            inflater = zlib.decompressobj(wbits=31)
            out += inflater.decompress(rest, max_bytes + 1 - len(out))
            if len(out) > max_bytes or inflater.unconsumed_tail:
                raise ProtocolError("decompressed chunk too large")
            if not inflater.eof:
                raise ProtocolError("truncated gzip member")
            rest = inflater.unused_data
    except zlib.error as exc:
        raise ProtocolError("bad gzip data") from exc
    return bytes(out)


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise ProtocolError("handshake field is not a string")


def shared_key_digest(salt: Any, hostname: Any, nonce: bytes, shared_key: str) -> str:
    """hex(sha512(salt + hostname + nonce + shared_key)), the spec's PING/PONG digest."""
    digest = hashlib.sha512()
    for part in (_bytes(salt), _bytes(hostname), nonce, shared_key.encode()):
        digest.update(part)
    return digest.hexdigest()


def helo(nonce: bytes) -> bytes:
    """The server's HELO: a nonce, no user authentication, keepalive allowed."""
    packed: bytes = msgpack.packb(["HELO", {"nonce": nonce, "auth": "", "keepalive": True}])
    return packed


def check_ping(obj: Any, nonce: bytes, shared_key: str) -> tuple[Any, str | None]:
    """Verify a PING; the client's shared_key_salt and None, or the reason it fails."""
    if not isinstance(obj, list | tuple) or len(obj) != 6 or obj[0] != "PING":
        raise ProtocolError("expected PING")
    _, hostname, salt, digest, _username, _password = obj
    expected = shared_key_digest(salt, hostname, nonce, shared_key)
    if _bytes(digest).decode(errors="replace") != expected:
        return salt, "shared_key mismatch"
    return salt, None


def pong(salt: Any, nonce: bytes, shared_key: str, hostname: str, reason: str | None) -> bytes:
    """The server's PONG, with its own digest so the client can check the server too."""
    digest = shared_key_digest(salt, hostname, nonce, shared_key) if reason is None else ""
    packed: bytes = msgpack.packb(["PONG", reason is None, reason or "", hostname, digest])
    return packed


SKIPPED = object()
"""Stands for a Message-mode record that ``MessageReader`` parsed past without building."""


class MessageReader:
    """Splits a byte stream into forward messages, cheaply.

    A Message-mode record is skipped, not built: the server spools the message's bytes as
    received, and the writer decodes them once. Every other part is decoded (and checked).
    Resumable: ``read`` raises ``msgpack.OutOfData`` mid-message and goes on from there
    after the next ``feed``.
    """

    def __init__(self, max_buffer_size: int) -> None:
        self.unpacker = new_unpacker(max_buffer_size)
        self._size: int | None = None
        self._items: list[Any] = []

    def feed(self, data: bytes) -> None:
        """Add received bytes (raises ``msgpack.BufferFull`` beyond the size bound)."""
        self.unpacker.feed(data)

    @property
    def idle(self) -> bool:
        """Whether no message is partly read (the next byte starts a message)."""
        return self._size is None

    def tell(self) -> int:
        """Stream offset just after the last complete message."""
        offset: int = self.unpacker.tell()
        return offset

    def read(self, skip_records: bool = True) -> list[Any] | None:
        """The next message's items (None for a heartbeat); raises ``msgpack.OutOfData``."""
        u = self.unpacker
        if self._size is None:
            try:
                size = u.read_array_header()
            except ValueError:
                try:
                    if u.unpack() is None:
                        return None  # a heartbeat
                except msgpack.OutOfData:
                    pass
                raise ProtocolError("not a forward-protocol message") from None
            if not 2 <= size <= 6:
                raise ProtocolError("not a forward-protocol message")
            self._size = size
            self._items = []
        items = self._items
        while len(items) < self._size:
            if (
                skip_records
                and len(items) == 2
                and isinstance(items[1], int | float)
                and not isinstance(items[1], bool)
            ):
                u.skip()
                items.append(SKIPPED)
            else:
                items.append(u.unpack())
        self._size = None
        self._items = []
        return items


def message_prefix(message: bytes | bytearray, items: list[Any]) -> bytes | None:
    """The leading bytes that mark ``message`` as a plain Message-mode entry, if it is one.

    ``items`` is what ``MessageReader.read`` made of ``message``. A 3-element array
    (no option, so no chunk to acknowledge), this tag, and an EventTime or a float
    time: any later message that starts with the same bytes is such an entry too,
    whatever its record, so the server need not parse it further.
    """
    if len(items) != 3 or items[2] is not SKIPPED or not isinstance(items[0], str):
        return None
    head: bytes = b"\x93" + msgpack.packb(items[0])
    marker = bytes(message[len(head) : len(head) + 2])
    if not message.startswith(head) or len(marker) < 2:
        return None
    if marker == b"\xd7\x00":  # fixext 8 of type 0: EventTime
        return head + marker
    if marker[:1] == b"\xcb":  # float 64
        return head + marker[:1]
    return None


def check_message(items: list[Any], max_bytes: int) -> tuple[int, Any]:
    """Check a message read by ``MessageReader``; its number of events and chunk option."""
    if not isinstance(items, list | tuple):
        raise ProtocolError("not a forward-protocol message")
    if len(items) <= 4 and items[2:3] == [SKIPPED]:
        if not isinstance(items[0], str):
            raise ProtocolError("not a forward-protocol message")
        return 1, _option(items, 3).get("chunk")
    events, chunk = decode_message(items, max_bytes)
    return len(events), chunk
