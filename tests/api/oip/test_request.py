"""Tensors in: JSON and the binary tensor extension read into rows, and what is refused."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from api.errors import InvalidInputError, MalformedRequestError
from tests.api.oip.tensors import ROWS, body, parse, tensor


def test_flat_and_nested_json_give_the_same_rows() -> None:
    flat = parse(body(tensor(data=ROWS[0] + ROWS[1])), None)
    nested = parse(body(tensor(data=ROWS), id="r1"), None)
    assert flat.rows == nested.rows == ROWS
    assert (flat.id, nested.id) == (None, "r1")
    one = parse(body(tensor(shape=[4], datatype="FP64", data=ROWS[0])), None)
    assert one.rows == [ROWS[0]]


@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
def test_binary_inputs(datatype: str) -> None:
    fmt = "<8f" if datatype == "FP32" else "<8d"
    raw = struct.pack(fmt, *ROWS[0], *ROWS[1])
    header = body(tensor(datatype=datatype, parameters={"binary_data_size": len(raw)}))
    request = parse(header + raw, len(header))
    assert np.allclose(request.rows, ROWS)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"[]", "must be a JSON object"),
        (body(), '"inputs" must be a list of one tensor'),
        (body(tensor(data=ROWS), tensor(data=ROWS)), "list of one tensor"),
        (body(tensor(name="x", data=ROWS)), "inputs[0].name must be 'input'"),
        (body(tensor(datatype="INT64", data=ROWS)), "FP32 or FP64"),
        (body(tensor(shape=[2, 3], data=ROWS)), "expects 4 features"),
        (body(tensor(shape=[2, 4, 1], data=ROWS)), "inputs[0].shape must be"),
        (body(tensor(shape=[0, 4], data=[])), "inputs[0].shape must be"),
        (body(tensor(shape=[9, 4], data=ROWS)), "at most 8 per request"),
        (body(tensor(data=ROWS[0])), "has 4 values; its shape says 8"),
        (body(tensor(data=[*ROWS[0], "a", 1, 2, 3])), "value 4 must be a number"),
        (body(tensor(data=[*ROWS[0], True, 1, 2, 3])), "value 4 must be a number"),
        (body(tensor(data=[*ROWS[0], 1e39, 1, 2, 3])), "float32 range"),
        (body(tensor()), "inputs[0].data must be a list"),
        (body(tensor(data=ROWS), id=5), '"id" must be a string'),
        (body(tensor(data=ROWS), outputs=[{"name": "nope"}]), "outputs[0].name must be one of"),
        (
            body(tensor(data=ROWS), parameters={"binary_data_output": "yes"}),
            "binary_data_output must be a boolean",
        ),
        (body(tensor(parameters={"binary_data_size": 3})), "binary_data_size must be 32"),
        (body(tensor(parameters={"binary_data_size": 32})), "announces 32 bytes"),
    ],
)
def test_bad_requests_say_what_was_wrong(payload: bytes, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse(payload, None)
    assert message in caught.value.message


def test_binary_framing_is_checked() -> None:
    raw = struct.pack("<8f", *ROWS[0], *ROWS[1])
    header = body(tensor(parameters={"binary_data_size": 32}))
    with pytest.raises(MalformedRequestError, match="not within the body"):
        parse(header, len(header) + 1)
    with pytest.raises(InvalidInputError, match="4 bytes after the tensors"):
        parse(header + raw + b"more", len(header))
    nan = struct.pack("<8f", *ROWS[0], float("nan"), 1, 2, 3)
    with pytest.raises(InvalidInputError, match="finite numbers"):
        parse(header + nan, len(header))
