"""Tensors out: the infer answer in JSON and in the binary tensor extension, byte for byte."""

from __future__ import annotations

import struct
from typing import Any

import orjson
import pytest

from api.oip.request import InferRequest, output_names
from api.oip.response import write_response
from tests.api.oip.tensors import MANIFEST, ROWS, body, parse, tensor


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
