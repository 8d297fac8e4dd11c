"""The upload check of ONNX graphs: no custom-op domains, no external data outside the bundle."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from api.errors import InvalidInputError
from api.registry.onnxsafe import check_graph


def graph_file(tmp_path: Path, domain: str = "", location: str | None = None) -> Path:
    weight = helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0])
    if location is not None:
        weight.data_location = TensorProto.EXTERNAL
        del weight.float_data[:]
        entry = weight.external_data.add()
        entry.key, entry.value = "location", location
    node = helper.make_node("Add", ["x", "w"], ["y"], domain=domain)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        [weight],
    )
    path = tmp_path / "model.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    return path


def test_a_plain_graph_passes(tmp_path: Path) -> None:
    check_graph(graph_file(tmp_path), "model.onnx", {"model.onnx"})
    check_graph(graph_file(tmp_path, location="w.bin"), "model.onnx", {"model.onnx", "w.bin"})


@pytest.mark.parametrize(
    ("domain", "location", "says"),
    [
        ("com.evil", None, "custom operator domain 'com.evil'"),
        ("", "/etc/passwd", "keeps tensor data in '/etc/passwd'"),
        ("", "../outside.bin", "keeps tensor data in '../outside.bin'"),
        ("", "unlisted.bin", "not a file of the bundle"),
    ],
)
def test_code_or_outside_data_is_refused(
    tmp_path: Path, domain: str, location: str | None, says: str
) -> None:
    with pytest.raises(InvalidInputError, match=r"^model\.onnx: ") as refused:
        check_graph(graph_file(tmp_path, domain, location), "model.onnx", {"model.onnx"})
    assert says in refused.value.message
    assert onnx  # the test builds graphs with onnx; the check itself does not need it
