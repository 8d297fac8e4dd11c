"""A fitted scikit-learn estimator as ONNX bytes, at pinned opsets (so that the exported
graphs do not change with the converter's newest opset)."""

from __future__ import annotations

import warnings
from typing import Any

import onnx
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType

OPSETS = {"": 17, "ai.onnx.ml": 3}
"""Pinned so that the exported graphs do not change with the converter's newest opset."""


def export_classifier(classifier: Any, n_features: int) -> bytes:
    """A fitted scikit-learn classifier as ONNX bytes: float32 ``input`` -> ``probabilities``."""
    return export_model(classifier, n_features)


def export_model(estimator: Any, n_features: int, regression: bool = False) -> bytes:
    """A fitted scikit-learn estimator as ONNX bytes: float32 ``input`` -> ``probabilities``
    (a classifier) or ``variable`` (a regressor's (n, 1) values)."""
    with warnings.catch_warnings():
        # skl2onnx reads SVC attributes that scikit-learn 1.9 marks as deprecated
        warnings.simplefilter("ignore", FutureWarning)
        onx = to_onnx(
            estimator,
            initial_types=[("input", FloatTensorType([None, n_features]))],
            options=None if regression else {"zipmap": False},
            target_opset=OPSETS,
        )
    data: bytes = onx.SerializeToString()
    return data


def default_opset(graph: bytes) -> int | None:
    """The default-domain opset a serialized ONNX graph imports (None: it imports none)."""
    model = onnx.load_model_from_string(graph)
    return next((op.version for op in model.opset_import if op.domain in ("", "ai.onnx")), None)
