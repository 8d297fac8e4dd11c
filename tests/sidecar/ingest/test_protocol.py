"""The forward protocol's decoding, as the spec writes it: modes, EventTime, gzip, digests."""

from __future__ import annotations

import gzip
from typing import Any

import msgpack
import pytest

from sidecar.ingest.protocol import (
    SKIPPED,
    MessageReader,
    ProtocolError,
    check_message,
    check_ping,
    decode_message,
    encode_event_time,
    gunzip,
    new_unpacker,
    shared_key_digest,
)

MAX = 1 << 20


def roundtrip(message: object) -> object:
    unpacker = new_unpacker(MAX)
    unpacker.feed(msgpack.packb(message))
    return next(unpacker)


def test_message_mode_with_event_time_keeps_nanoseconds() -> None:
    obj = roundtrip(["a.b", encode_event_time(1700000000.123456), {"k": 1}, {"chunk": "c1"}])
    events, chunk = decode_message(obj, MAX)
    assert chunk == "c1"
    [(tag, when, rec)] = events
    assert (tag, rec) == ("a.b", {"k": 1})
    assert when == pytest.approx(1700000000.123456, abs=1e-6)


def test_integer_time_and_forward_mode() -> None:
    events, chunk = decode_message(roundtrip(["t", [[1, {"a": 1}], [2, {"a": 2}]]]), MAX)
    assert chunk is None
    assert events == [("t", 1.0, {"a": 1}), ("t", 2.0, {"a": 2})]


def test_packed_and_compressed_packed_forward() -> None:
    entries = b"".join(msgpack.packb([encode_event_time(10.5), {"n": i}]) for i in range(3))
    plain, _ = decode_message(roundtrip(["t", entries, {"size": 3}]), MAX)
    # Fluent Bit may send several gzip members back to back.
    packed = gzip.compress(entries[:5]) + gzip.compress(entries[5:])
    zipped, chunk = decode_message(
        roundtrip(["t", packed, {"compressed": "gzip", "chunk": "x"}]), MAX
    )
    assert plain == zipped == [("t", 10.5, {"n": i}) for i in range(3)]
    assert chunk == "x"


@pytest.mark.parametrize(
    "message",
    [
        42,
        ["t"],
        [1, 2, 3],
        ["t", True, {}],
        ["t", 1.0, {}, "not a map"],
        ["t", [[1.0]]],
        ["t", b"\xc1\xc1"],
        ["t", msgpack.packb([1, {}])[:-1]],
        ["t", b"not gzip", {"compressed": "gzip"}],
        ["t", b"", {"compressed": "zstd"}],
        ["t", {"a": 1}],
    ],
)
def test_malformed_messages_are_protocol_errors(message: object) -> None:
    with pytest.raises(ProtocolError):
        decode_message(roundtrip(message), MAX)


def test_gzip_bomb_is_refused() -> None:
    with pytest.raises(ProtocolError, match="too large"):
        gunzip(gzip.compress(b"\0" * (MAX + 1)), MAX)


def test_ping_digest_is_checked() -> None:
    nonce = b"n" * 16
    good = shared_key_digest(b"salt", "host", nonce, "secret")
    assert check_ping(["PING", "host", b"salt", good, "", ""], nonce, "secret") == (b"salt", None)
    _, reason = check_ping(["PING", "host", b"salt", good, "", ""], nonce, "other")
    assert reason == "shared_key mismatch"
    with pytest.raises(ProtocolError):
        check_ping(["t", 1, {}], nonce, "secret")


def test_message_reader_resumes_across_partial_reads_and_skips_records() -> None:
    stream = (
        msgpack.packb(["t", encode_event_time(5.25), {"big": list(range(50))}, {"chunk": "a"}])
        + msgpack.packb(None)
        + msgpack.packb(["t", [[1, {"x": 1}]]])
    )
    reader = MessageReader(MAX)
    messages: list[Any] = []
    ends = []
    for i in range(len(stream)):
        reader.feed(stream[i : i + 1])
        while True:
            try:
                messages.append(reader.read())
            except msgpack.OutOfData:
                break
            ends.append(reader.tell())
    first, heartbeat, forward = messages
    assert first == ["t", 5.25, SKIPPED, {"chunk": "a"}]
    assert check_message(first, MAX) == (1, "a")
    assert heartbeat is None
    assert check_message(forward, MAX) == (1, None)
    assert ends[-1] == len(stream)


@pytest.mark.parametrize("junk", [b"\xc1", msgpack.packb({"a": 1}), msgpack.packb(list(range(9)))])
def test_message_reader_refuses_what_is_not_a_message(junk: bytes) -> None:
    reader = MessageReader(MAX)
    reader.feed(junk)
    with pytest.raises((ProtocolError, msgpack.FormatError)):
        reader.read()
