"""An ONNX file given to ``predlog bundle --onnx``: opened as the api opens it, its input checked
against the training data, its answers for the training rows read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from api.errors import BundleError
from api.runtime.session import open_session
from training.bundle import GraphIO
from training.tables import TrainingData

F64 = npt.NDArray[np.float64]
Task = Literal["classification", "regression"]


class GraphError(ValueError):
    """The ONNX file cannot be served with this training data; the message says why."""


@dataclass(frozen=True)
class GraphAnswers:
    """What an ONNX file answered for the training rows, and through which names."""

    io: GraphIO
    values: F64
    """Probabilities (n, n_labels) or values (n, 1)."""
    task: Task
    labels: list[str] | None
    """Class names read off the graph's own label output (skl2onnx's ``label``), when it
    names every class consistently with the probabilities."""


def graph_answers(
    path: Path, data: TrainingData, output: str | None, task: Task | None
) -> GraphAnswers:
    """Open an ONNX file as the api will (it must load), check its input against the training
    data's width, and run it on the training rows; the output used and the task it answers."""
    try:
        session = open_session(path)
    except BundleError as exc:
        raise GraphError(f"--onnx {exc}") from exc
    inputs = session.get_inputs()
    n = len(data.feature_names)
    if len(inputs) != 1 or inputs[0].type != "tensor(float)":
        raise GraphError(
            f"--onnx {path}: the graph takes {[(i.name, i.type) for i in inputs]}; a bundle's "
            f"graph takes one float32 tensor (n, {n})"
        )
    shape = inputs[0].shape
    width = shape[1] if len(shape) == 2 else None
    if len(shape) != 2 or (isinstance(width, int) and width != n):
        raise GraphError(
            f"--onnx {path}: the graph's input {inputs[0].name!r} has shape {shape}, the "
            f"training data has {n} feature columns {data.feature_names}"
        )
    name = output or _pick_output(path, session, task)
    try:
        (answer,) = session.run([name], {inputs[0].name: data.x.astype(np.float32)})
    except Exception as exc:  # onnxruntime raises its own unrelated exception types
        raise GraphError(f"--onnx {path}: running output {name!r} failed: {exc}") from exc
    values = np.asarray(answer)
    if values.dtype != np.float32 or values.ndim != 2 or len(values) != len(data.x):
        raise GraphError(
            f"--onnx {path}: output {name!r} is {values.dtype} {values.shape}; a bundle needs "
            f"float32 ({len(data.x)}, n_labels) probabilities or ({len(data.x)}, 1) values"
        )
    found: Task = "regression" if values.shape[1] == 1 else "classification"
    if task is not None and task != found:
        raise GraphError(
            f"--onnx {path}: output {name!r} has {values.shape[1]} columns, but the estimator "
            f"is a {'regressor' if task == 'regression' else 'classifier'}"
        )
    labels = None
    if found == "classification":
        labels = _graph_labels(session, inputs[0].name, name, data.x, values)
    return GraphAnswers(GraphIO(inputs[0].name, name), values.astype(np.float64), found, labels)


def _graph_labels(
    session: ort.InferenceSession, input_name: str, proba: str, x: F64, values: npt.NDArray[Any]
) -> list[str] | None:
    """The class names a graph's (n,) label output gives the most probable class of each row,
    if one output does so consistently and for every class."""
    others = [o.name for o in session.get_outputs() if o.name != proba]
    best = values.argmax(axis=1).tolist()
    n_labels = values.shape[1]
    for name in others:
        try:
            (answer,) = session.run([name], {input_name: x.astype(np.float32)})
        except Exception:  # noqa: S112 - onnxruntime's own types; such an output names nothing
            continue
        answer = np.asarray(answer)
        if answer.shape != (len(x),):
            continue
        mapping: dict[int, Any] = {}
        pairs = zip(best, answer.tolist(), strict=True)
        if all(mapping.setdefault(i, v) == v for i, v in pairs) and len(mapping) == n_labels:
            return [str(mapping[i]) for i in range(n_labels)]
    return None


def _pick_output(path: Path, session: ort.InferenceSession, task: Task | None) -> str:
    outputs: dict[str, str] = {o.name: o.type for o in session.get_outputs()}
    preferred = {"classification": ["probabilities"], "regression": ["variable"]}
    for candidate in preferred.get(task or "", ["probabilities", "variable"]):
        if candidate in outputs:
            return candidate
    floats = [n for n, t in outputs.items() if t == "tensor(float)"]
    if len(floats) == 1:
        return floats[0]
    raise GraphError(
        f"--onnx {path}: which output is the prediction? outputs {outputs}; name it with "
        "--output (a classifier's must be a probability tensor: export with zipmap off)"
    )
