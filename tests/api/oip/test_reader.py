"""RequestReader: a remembered binary-extension header reads as a new one, errors included."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from api.errors import InvalidInputError
from api.oip.reader import RequestReader
from api.oip.request import InferRequest
from tests.api.fixtures import fake_manifest
from tests.api.oip.tensors import MANIFEST, ROWS, body, parse, tensor


def binary_body(values: list[float], **fields: Any) -> tuple[bytes, int]:
    header = body(tensor(parameters={"binary_data_size": 4 * len(values)}), **fields)
    return header + struct.pack(f"<{len(values)}f", *values), len(header)


def read_with(reader: RequestReader, payload: bytes, length: int) -> InferRequest:
    header = reader.header(payload, length)
    assert reader.request_id(header) == read_request_id(payload, length)
    return reader.request(header, MANIFEST)


def read_request_id(payload: bytes, length: int) -> str | None:
    return parse(payload, length).id


def test_the_reader_reads_a_known_header_as_a_new_one() -> None:
    reader = RequestReader(8)
    values = [v for row in ROWS for v in row]
    first, length = binary_body(values, id="r1", outputs=[{"name": "label"}])
    for payload in (first, first[:length] + struct.pack("<8f", *reversed(values))):
        expected = parse(payload, length)
        for _ in range(2):  # new, then known
            got = read_with(reader, payload, length)
            assert (got.id, got.outputs, got.binary) == (expected.id, expected.outputs, False)
            assert got.rows == expected.rows
    nan = first[:length] + struct.pack("<8f", *values[:4], float("nan"), 1, 2, 3)
    for bad, message in (
        (nan, "finite numbers"),
        (first + b"more", "4 bytes after the tensors"),
        (first[:-4], "announces 32 bytes of binary data, the body has 28"),
    ):
        with pytest.raises(InvalidInputError) as fresh:
            parse(bad, length)
        assert message in fresh.value.message
        with pytest.raises(InvalidInputError) as known:
            read_with(reader, bad, length)
        assert known.value.message == fresh.value.message
    # the same header against a model of other inputs: checked against that one
    other = fake_manifest(version="2").model_copy(update={"input_name": "x"})
    with pytest.raises(InvalidInputError, match=r"inputs\[0\]\.name must be 'x'"):
        reader.request(reader.header(first, length), other)
