"""ONNX graphs for the detectors, and the combined graph the api serves with one call a request.

The combined graph takes the classifier's float32 input and answers, in one onnxruntime call,
the class probabilities, the most probable class index, the outlier score in [0, 1] and the
outlier flag: the classifier's nodes, the detector's raw score (float64, the formulas of
``api.runtime.outlier``), its logistic map and the threshold, all standard ONNX operators.
Every name the detector adds starts with ``outlier/`` so that it never meets a classifier name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

if TYPE_CHECKING:
    from training.detectors import FittedDetector

OPSET = 17
"""Default-domain opset of the graphs written here (ReduceSum takes its axes as an input,
the other reductions as an attribute, as in opset 17)."""
LABEL_OUTPUT = "label_index"
SCORE_OUTPUT = "outlier_score"
OUTLIER_OUTPUT = "is_outlier"


class _Builder:
    """Collects nodes and float64 constants under a name prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def const(self, name: str, value: Any, dtype: Any = np.float64) -> str:
        full = self.prefix + name
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), full))
        return full

    def node(self, op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        out = self.prefix + name
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def raw_score_nodes(
    detector: FittedDetector, input_name: str, b: _Builder, gain: float = 1.0
) -> str:
    """Add the nodes of ``gain`` x the detector's raw score (float64, (n,)); returns its name.

    The logistic map multiplies the raw score by its slope: passing the slope as ``gain``
    folds that product into the constants, one node fewer on every request.
    """
    if not detector.has_onnx:
        raise ValueError(f"a {detector.kind} detector has no ONNX nodes")
    x = b.node("Cast", [input_name], "x64", to=TensorProto.DOUBLE)
    params = detector.params
    if detector.kind == "mahalanobis":
        location = b.const("location", params["location"])
        precision = b.const("precision", gain * np.asarray(params["precision"], dtype=np.float64))
        centered = b.node("Sub", [x, location], "centered")
        projected = b.node("MatMul", [centered, precision], "projected")
        squares = b.node("Mul", [projected, centered], "squares")
        return b.node("ReduceSum", [squares, b.const("axes", [1], np.int64)], "raw", keepdims=0)
    return _knn_nodes(params, x, b, gain)


def _knn_nodes(params: dict[str, Any], x: str, b: _Builder, gain: float) -> str:
    # As api.runtime.outlier.KnnScorer: with z = x*s - m*s (s = 1/scale) and training rows t,
    # |z - t|^2 = |z|^2 + (x @ W + c), W = -2 s t^T, c = |t|^2 + 2 (m s).t. The neighbours are
    # ranked on x @ W + c alone (one Gemm); |z|^2 is added to the k values TopK keeps. Every
    # squared distance is scaled by gain^2, so the square roots come out multiplied by gain.
    train = np.asarray(params["train"], dtype=np.float64)
    inv_scale = 1.0 / np.asarray(params["scale"], dtype=np.float64)
    shift = np.asarray(params["mean"], dtype=np.float64) * inv_scale
    k, method = int(params["k"]), str(params["method"])
    g2 = gain * gain
    weights = g2 * (-2.0 * inv_scale[:, None] * train.T)
    offset = g2 * (np.einsum("ij,ij->i", train, train) + 2.0 * (train @ shift))
    d2 = b.node("Gemm", [x, b.const("weights", weights), b.const("offset", offset)], "d2")
    nearest = b.prefix + "nearest"
    b.nodes.append(
        helper.make_node(
            "TopK",
            [d2, b.const("k", [k], np.int64)],
            [nearest, b.prefix + "nearest_index"],
            name=nearest,
            axis=1,
            largest=0,
            sorted=1,
        )
    )
    z = b.node("Mul", [x, b.const("scale", gain * inv_scale)], "scaled")
    z = b.node("Sub", [z, b.const("shift", gain * shift)], "z")
    zero = b.const("zero", 0.0)
    if method == "largest":
        zz = b.node("ReduceSumSquare", [z], "zz", axes=[1], keepdims=0)
        kth = b.node("ReduceMax", [nearest], "kth", axes=[1], keepdims=0)
        kth = b.node("Add", [kth, zz], "kth_d2")
        # the expansion can come out a hair below zero for a training row itself
        return b.node("Sqrt", [b.node("Max", [kth, zero], "kth_pos")], "raw")
    zz = b.node("ReduceSumSquare", [z], "zz", axes=[1], keepdims=1)
    dists = b.node("Add", [nearest, zz], "near_d2")
    dists = b.node("Sqrt", [b.node("Max", [dists, zero], "near_pos")], "near_dist")
    if method == "mean":
        return b.node("ReduceMean", [dists], "raw", axes=[1], keepdims=0)
    if method != "median":
        raise ValueError(f"unknown knn method {method!r}")
    # TopK sorted the distances (sqrt keeps the order): the median is the middle one or two
    middle = [k // 2] if k % 2 else [k // 2 - 1, k // 2]
    picked = b.node("Gather", [dists, b.const("middle", middle, np.int64)], "picked", axis=1)
    return b.node("ReduceMean", [picked], "raw", axes=[1], keepdims=0)


def _model(graph: onnx.GraphProto, opsets: dict[str, int]) -> bytes:
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(domain, v) for domain, v in sorted(opsets.items())],
        producer_name="predlog",
    )
    onnx.checker.check_model(model, full_check=True)
    data: bytes = model.SerializeToString()
    return data


def detector_model(detector: FittedDetector, n_features: int) -> bytes:
    """The detector's raw score alone: float32 ``input`` (n, n_features) -> float64 ``raw`` (n,)."""
    b = _Builder("")
    raw = raw_score_nodes(detector, "input", b)
    graph = helper.make_graph(
        b.nodes,
        f"{detector.kind}_raw_score",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, n_features])],
        [helper.make_tensor_value_info(raw, TensorProto.DOUBLE, [None])],
        initializer=b.initializers,
    )
    return _model(graph, {"": OPSET})


def combined_model(
    classifier: bytes,
    detector: FittedDetector,
    input_name: str,
    proba_output: str,
    regression: bool = False,
) -> bytes:
    """The classifier graph plus ``label_index``, ``outlier_score`` and ``is_outlier`` outputs.

    ``classifier`` is a serialized graph with one float32 input ``input_name`` and a
    probability output ``proba_output``; its other outputs (skl2onnx's labels) are dropped.
    With ``regression``, ``proba_output`` is a regressor's value output and no
    ``label_index`` is added.
    """
    model = onnx.load_model_from_string(classifier)
    source = model.graph
    proba = next((o for o in source.output if o.name == proba_output), None)
    if proba is None or [i.name for i in source.input] != [input_name]:
        raise ValueError(f"the model graph has no {input_name!r} -> {proba_output!r}")
    b = _Builder("outlier/")
    labels = [
        helper.make_node(
            "ArgMax", [proba_output], [LABEL_OUTPUT], name=LABEL_OUTPUT, axis=1, keepdims=0
        )
    ]
    label_outputs = [helper.make_tensor_value_info(LABEL_OUTPUT, TensorProto.INT64, [None])]
    if regression:
        labels, label_outputs = [], []
    # outlier_score = 1 / (1 + exp(-slope * (raw - center))), as api.runtime.outlier.unit_score
    scaled_raw = raw_score_nodes(detector, input_name, b, gain=detector.slope)
    logit = b.node("Add", [scaled_raw, b.const("bias", -detector.slope * detector.center)], "logit")
    score = helper.make_node("Sigmoid", [logit], [SCORE_OUTPUT], name=SCORE_OUTPUT)
    threshold = b.const("threshold", detector.threshold)
    flag = helper.make_node(
        "GreaterOrEqual", [SCORE_OUTPUT, threshold], [OUTLIER_OUTPUT], name=OUTLIER_OUTPUT
    )
    graph = helper.make_graph(
        [*source.node, *labels, *b.nodes, score, flag],
        f"{source.name}+{detector.kind}",
        list(source.input),
        [
            proba,
            *label_outputs,
            helper.make_tensor_value_info(SCORE_OUTPUT, TensorProto.DOUBLE, [None]),
            helper.make_tensor_value_info(OUTLIER_OUTPUT, TensorProto.BOOL, [None]),
        ],
        initializer=[*source.initializer, *b.initializers],
    )
    opsets = {op.domain: op.version for op in model.opset_import}
    opsets[""] = max(opsets.get("", OPSET), OPSET)
    return _model(graph, opsets)
