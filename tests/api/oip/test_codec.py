"""Tensors in and out: JSON and the binary tensor extension, and what is refused."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson
import pytest

from api.errors import InvalidInputError, MalformedRequestError
from api.oip.codec import (
    InferRequest,
    RequestReader,
    output_names,
    read_header,
    read_request,
    write_response,
)
from tests.api.fixtures import fake_manifest

MANIFEST = fake_manifest()
ROWS = [[6.7, 3.0, 5.2, 2.3], [5.1, 3.5, 1.4, 0.2]]


def parse(payload: bytes, header_length: int | None = None, max_rows: int = 8) -> InferRequest:
    return read_request(*read_header(payload, header_length), MANIFEST, max_rows)


def tensor(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "input", "shape": [2, 4], "datatype": "FP32"}
    return {**base, **fields}


def body(*inputs: dict[str, Any], **fields: Any) -> bytes:
    return orjson.dumps({"inputs": list(inputs), **fields})


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


def results(n: int) -> list[dict[str, Any]]:
    """What ``infer_rows`` leaves in the log for ``fixed_output(n)``."""
    row = {"prediction": [0.1, 0.2, 0.7], "label": "virginica", "outlier_score": 0.0,
           "is_outlier": False}  # fmt: skip
    return [dict(row) for _ in range(n)]


def test_json_outputs() -> None:
    request = parse(body(tensor(data=ROWS)), None)
    payload, header = write_response(request, MANIFEST, results(2), "job-1")
    assert header is None
    answer = orjson.loads(payload)
    assert answer["id"] == "job-1"
    assert answer["parameters"] == {"job_id": "job-1"}
    by_name = {o["name"]: o for o in answer["outputs"]}
    assert list(by_name) == output_names(MANIFEST)
    assert by_name["probabilities"]["shape"] == [2, 3]
    assert by_name["probabilities"]["data"] == pytest.approx([0.1, 0.2, 0.7] * 2)
    assert by_name["label"] == {
        "name": "label", "datatype": "BYTES", "shape": [2], "data": ["virginica"] * 2
    }  # fmt: skip
    assert by_name["is_outlier"]["data"] == [False, False]


def test_binary_outputs_follow_the_header() -> None:
    request = parse(
        body(
            tensor(data=ROWS),
            outputs=[
                {"name": "label", "parameters": {"binary_data": True}},
                {"name": "outlier_score"},
                {"name": "is_outlier", "parameters": {"binary_data": True}},
            ],
        )
    )
    rows = [
        {"prediction": [0.1, 0.2, 0.7], "label": "virginica", "outlier_score": 0.25,
         "is_outlier": False},
        {"prediction": [0.1, 0.2, 0.7], "label": "setosa", "outlier_score": 0.75,
         "is_outlier": True},
    ]  # fmt: skip
    payload, header = write_response(request, MANIFEST, rows, "job-2")
    assert header is not None
    answer = orjson.loads(payload[:header])
    assert [o["name"] for o in answer["outputs"]] == ["label", "outlier_score", "is_outlier"]
    label, score, flag = answer["outputs"]
    assert score["data"] == [0.25, 0.75]
    sizes = [label["parameters"]["binary_data_size"], flag["parameters"]["binary_data_size"]]
    assert sizes == [4 + 9 + 4 + 6, 2]
    tail = payload[header:]
    labels = struct.pack("<I", 9) + b"virginica" + struct.pack("<I", 6) + b"setosa"
    assert tail == labels + b"\x00\x01"


def answer_of(
    request: InferRequest, rows: list[dict[str, Any]], job_id: str
) -> tuple[bytes, int | None]:
    """What ``write_response`` must give: orjson's dump of the answer, then the binary data."""
    n = len(rows)
    wanted = request.outputs
    outputs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name in output_names(MANIFEST) if wanted is None else list(wanted):
        own = None if wanted is None else wanted[name]
        data: list[Any]
        if name == "probabilities":
            data = [p for r in rows for p in r["prediction"]]
            datatype, shape, raw = "FP32", [n, 3], struct.pack(f"<{len(data)}f", *data)
        elif name == "label":
            data = [r["label"] for r in rows]
            raw = b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in data)
            datatype, shape = "BYTES", [n]
        elif name == "outlier_score":
            data = [r["outlier_score"] for r in rows]
            datatype, shape, raw = "FP64", [n], struct.pack(f"<{n}d", *data)
        else:
            data = [r["is_outlier"] for r in rows]
            datatype, shape, raw = "BOOL", [n], bytes(data)
        output: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
        if request.binary if own is None else own:
            chunks.append(raw)
            output["parameters"] = {"binary_data_size": len(raw)}
        else:
            output["data"] = data
        outputs.append(output)
    header = orjson.dumps(
        {
            "model_name": MANIFEST.name,
            "model_version": MANIFEST.version,
            "id": job_id if request.id is None else request.id,
            "parameters": {"job_id": job_id},
            "outputs": outputs,
        }
    )
    return (header + b"".join(chunks), len(header)) if chunks else (header, None)


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize(
    "outputs",
    [
        None,
        {"label": True},
        {"is_outlier": None, "probabilities": False, "label": None},
        {"outlier_score": True, "probabilities": True, "label": True, "is_outlier": True},
    ],
)
@pytest.mark.parametrize("labels", [["virginica"], ["setosa", "virginica", "setosa"], ['é"\\', ""]])
def test_responses_are_the_answers_json_byte_for_byte(
    binary: bool, outputs: dict[str, bool | None] | None, labels: list[str]
) -> None:
    rows = [
        {"prediction": [0.1 * i, 0.2, 0.7], "label": label, "outlier_score": 0.25 * i,
         "is_outlier": i % 2 == 1}
        for i, label in enumerate(labels)
    ]  # fmt: skip
    for request_id in (None, 'r"1'):
        request = InferRequest(request_id, [], outputs, binary)
        for _ in range(2):  # the second answer from what the first one left in the caches
            assert write_response(request, MANIFEST, rows, "job-3") == answer_of(
                request, rows, "job-3"
            )


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
