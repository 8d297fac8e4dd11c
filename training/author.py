"""``predlog bundle``: a data scientist's fitted model (or ONNX file) and training data -> a bundle.

The pickle (joblib) is loaded only on the author's machine (``training.estimator``: the
estimator's checks and answers); the bundle holds the ONNX graph, a pyod detector exported
to numpy/ONNX, statistics and a sample of the training rows, nothing that needs
scikit-learn, pyod or unpickling to serve (``training.bundle``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.errors import BundleError
from api.runtime.bundle import MANIFEST
from training.bundle import BundleSpec, GraphIO, build_bundle
from training.detectors import DETECTORS, fit_detector
from training.estimator import (
    EstimatorError,
    check_features,
    estimator_answers,
    estimator_task,
    load_estimator,
    training_metrics,
)
from training.export import export_model
from training.onnxfile import GraphAnswers, GraphError, Task, graph_answers
from training.tables import DataError, TrainingData, read_training_data
from training.verify import TOLERANCE

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""What a model name or version may be: it becomes a directory and a URL path segment."""
KNN_ROWS = 5000
"""Above this many training rows, the output suggests a detector cheaper to serve than knn."""


class AuthorError(ValueError):
    """The model, the training data or the flags cannot make a bundle; the message says why."""


@dataclass
class Authored:
    """What ``bundle_model`` wrote and what it checked, for the command to print."""

    path: Path
    task: Task
    notes: list[str] = field(default_factory=list)


def bundle_model(
    out: Path,
    name: str,
    version: str,
    train_data: Path,
    *,
    model: Path | None = None,
    onnx_file: Path | None = None,
    target: str | None = None,
    detector: str = "knn",
    contamination: float = 0.05,
    description: str | None = None,
    labels: list[str] | None = None,
    output: str | None = None,
    tolerance: float = TOLERANCE,
) -> Authored:
    """Write the bundle of a fitted scikit-learn estimator (``model``, a joblib/pickle file)
    and/or an ONNX graph (``onnx_file``) to ``out``; AuthorError says what is wrong."""
    _check_flags(out, name, version, model, onnx_file, detector)
    try:
        data = read_training_data(train_data, target)
    except DataError as exc:
        raise AuthorError(str(exc)) from None
    notes: list[str] = []
    try:  # the estimator's own checks, as the command's errors
        estimator = None if model is None else load_estimator(model)
        if estimator is not None:
            check_features(estimator, data)
            task = estimator_task(estimator)
            expected = estimator_answers(estimator, data.x, task)
        else:
            task, expected = None, None
    except EstimatorError as exc:
        raise AuthorError(str(exc)) from exc.__cause__  # the unpickling error, if one
    if onnx_file is not None:
        graph = onnx_file.read_bytes()
        try:
            from_graph = graph_answers(onnx_file, data, output, task)
        except GraphError as exc:
            raise AuthorError(str(exc)) from None
        io, answers, task = from_graph.io, from_graph.values, from_graph.task
        if expected is not None and expected.shape != answers.shape:
            raise AuthorError(
                f"--onnx {onnx_file}: output {io.output_name!r} answers {answers.shape[1]} "
                f"columns a row, the estimator {expected.shape[1]}: not the same model"
            )
    else:
        graph = export_model(estimator, data.x.shape[1], regression=task == "regression")
        io = GraphIO(output_name="variable" if task == "regression" else "probabilities")
        answers, from_graph = None, None
    assert task is not None  # from the estimator, else from the graph
    class_names = class_labels(estimator, labels, task, from_graph, notes)
    try:
        metrics = training_metrics(
            data, task, expected if answers is None else answers, class_names
        )
    except DataError as exc:  # a regressor's target that is not numeric
        raise AuthorError(str(exc)) from None
    fitted = fit_detector(detector, data.x, contamination)
    if fitted.kind == "knn" and len(data.x) > KNN_ROWS:
        notes.append(
            f"the knn detector keeps all {len(data.x)} training rows and compares every served "
            "row with each: for this many, --detector mcd or hbos costs far less a request"
        )
    spec = BundleSpec(
        name,
        version,
        description or _describe(estimator, onnx_file, model, task, fitted.algorithm),
        data.feature_names,
        class_names,
        task,
    )
    try:
        path, gap = build_bundle(
            out,
            spec,
            data.x,
            graph,
            fitted,
            expected=expected,
            tolerance=tolerance,
            io=io,
            training_metrics=metrics,
        )
    except (RuntimeError, BundleError) as exc:
        raise AuthorError(str(exc)) from exc
    notes.append(_checked(data, task, gap, tolerance))
    notes += [f"training {key} {value:.4g} (target {target!r})" for key, value in metrics.items()]
    return Authored(path, task, notes)


def _check_flags(
    out: Path,
    name: str,
    version: str,
    model: Path | None,
    onnx_file: Path | None,
    detector: str,
) -> None:
    """What can be refused before any file is read."""
    for what, value in (("name", name), ("version", version)):
        if not SAFE_NAME.fullmatch(value):
            raise AuthorError(
                f"{what} {value!r} is not a safe identifier (letters, digits, '.', '_', '-'; "
                "starting with a letter or digit; at most 128 characters)"
            )
    if model is None and onnx_file is None:
        raise AuthorError("give --model (a fitted scikit-learn estimator) or --onnx (a graph)")
    if detector.lower() not in DETECTORS:
        raise AuthorError(
            f"detector {detector!r} cannot be served without pyod; choose one of "
            f"{', '.join(DETECTORS)} (exported to numpy/ONNX)"
        )
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST).exists())
    ):
        raise AuthorError(f"{out} exists and is not a bundle directory: choose another --out")


def _checked(data: TrainingData, task: Task, gap: float | None, tolerance: float) -> str:
    """What the comparison with the estimator found, in a line."""
    what = "values" if task == "regression" else "probabilities"
    if gap is None:
        return (
            f"not checked against an estimator (--onnx without --model): the graph loads, takes "
            f"{len(data.feature_names)} features and answers {what} for the "
            f"{len(data.x)} training rows"
        )
    return (
        f"checked: the bundle's {what} agree with the estimator's on {len(data.x)} "
        f"training rows (largest gap {gap:.2g}, tolerance {tolerance:g})"
    )


def _describe(
    estimator: Any, onnx_file: Path | None, model: Path | None, task: Task, algorithm: str
) -> str:
    source = type(estimator).__name__ if estimator is not None else f"ONNX graph {onnx_file}"
    if estimator is not None and hasattr(estimator, "steps"):
        source = " + ".join(type(step).__name__ for _, step in estimator.steps)
    origin = model.name if model is not None else ""
    return f"{source} ({task}{', ' + origin if origin else ''}); outliers by {algorithm}."


def class_labels(
    estimator: Any,
    given: list[str] | None,
    task: Task,
    graph: GraphAnswers | None,
    notes: list[str],
) -> list[str]:
    """Class names in index order: ``--labels``, else the estimator's ``classes_``, else what
    the graph's label output says, else the class indices; a regressor has none."""
    if task == "regression":
        if given:
            raise AuthorError("--labels: a regressor has no labels")
        return []
    if estimator is not None:
        found, source = [str(c) for c in estimator.classes_], None
    else:
        assert graph is not None
        n_labels = graph.values.shape[1]
        found = graph.labels or [str(i) for i in range(n_labels)]
        source = "the graph's label output" if graph.labels else "the class indices"
    if given:
        if len(given) != len(found):
            raise AuthorError(f"--labels names {len(given)} classes, the model has {len(found)}")
        return given
    if source is not None:
        notes.append(f"labels {found} are {source} (name them with --labels)")
    return found
