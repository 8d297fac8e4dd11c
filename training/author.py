"""``predlog bundle``: a data scientist's fitted model (or ONNX file) and training data -> a bundle.

The pickle (joblib) is loaded here only, on the author's machine; the bundle holds the ONNX
graph, a pyod detector exported to numpy/ONNX, statistics and a sample of the training rows,
nothing that needs scikit-learn, pyod or unpickling to serve (``training.bundle``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from api.errors import BundleError
from api.runtime.bundle import MANIFEST
from training.bundle import TOLERANCE, BundleSpec, GraphIO, build_bundle, export_model
from training.detectors import DETECTORS, fit_detector
from training.onnxfile import GraphAnswers, GraphError, Task, graph_answers
from training.tables import DataError, TrainingData, numbers, read_training_data

F64 = npt.NDArray[np.float64]
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
    estimator = None if model is None else load_estimator(model)
    notes: list[str] = []
    if estimator is not None:
        check_features(estimator, data)
        task = estimator_task(estimator)
        expected = estimator_answers(estimator, data.x, task)
    else:
        task, expected = None, None
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


def load_estimator(path: Path) -> Any:
    """A fitted scikit-learn estimator from a joblib or pickle file (here, never in the api)."""
    import joblib  # type: ignore[import-untyped]  # noqa: PLC0415 - only this command unpickles
    from sklearn.exceptions import NotFittedError  # noqa: PLC0415
    from sklearn.utils.validation import check_is_fitted  # noqa: PLC0415

    if not path.is_file():
        raise AuthorError(f"--model {path}: no such file")
    try:
        estimator = joblib.load(path)
    except Exception as exc:  # unpickling raises whatever the pickled classes raise
        raise AuthorError(f"--model {path}: cannot load it with joblib: {exc}") from exc
    if not hasattr(estimator, "predict") or not hasattr(estimator, "get_params"):
        raise AuthorError(f"--model {path}: a {type(estimator).__name__}, not an estimator")
    try:
        check_is_fitted(estimator)
    except NotFittedError as exc:
        raise AuthorError(f"--model {path}: the estimator is not fitted: {exc}") from exc
    return estimator


def estimator_task(estimator: Any) -> Task:
    """Classification or regression, as scikit-learn tags the estimator (a Pipeline: its last
    step); AuthorError for anything else or a classifier without probabilities."""
    from sklearn.base import is_classifier, is_regressor  # noqa: PLC0415

    if is_classifier(estimator):
        if not hasattr(estimator, "predict_proba"):
            raise AuthorError(
                f"{type(estimator).__name__} has no predict_proba: a bundle serves class "
                "probabilities (e.g. SVC(probability=True), or CalibratedClassifierCV)"
            )
        return "classification"
    if is_regressor(estimator):
        return "regression"
    raise AuthorError(f"{type(estimator).__name__} is neither a classifier nor a regressor")


def check_features(estimator: Any, data: TrainingData) -> None:
    """The CSV's feature columns must be the estimator's, in its order."""
    names = data.feature_names
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if fitted_names is not None:
        expected = [str(n) for n in fitted_names]
        if expected != names:
            missing = [n for n in expected if n not in names]
            extra = [n for n in names if n not in expected]
            why = (
                "the same names in another order"
                if not missing and not extra
                else f"missing {missing}, not in the model {extra}"
            )
            raise AuthorError(
                f"{data.path}: its feature columns {names} disagree with the model's "
                f"feature_names_in_ {expected} ({why}); the header must name the model's "
                "features in its order (and --target the label column)"
            )
    n_in = getattr(estimator, "n_features_in_", None)
    if n_in is not None and int(n_in) != len(names):
        raise AuthorError(
            f"{data.path}: {len(names)} feature columns {names}, the model takes {n_in} "
            "features (is the label column among them? name it with --target)"
        )


def estimator_answers(estimator: Any, x: F64, task: Task) -> F64:
    """The estimator's probabilities (n, n_labels) or values (n, 1) for the training rows."""
    with warnings.catch_warnings():
        # fitted on a DataFrame, given an array: the names were checked by check_features
        warnings.filterwarnings("ignore", "X does not have valid feature names", UserWarning)
        if task == "classification":
            return np.asarray(estimator.predict_proba(x), dtype=np.float64)
        values = np.asarray(estimator.predict(x), dtype=np.float64)
    if values.ndim == 2 and values.shape[1] != 1:
        raise AuthorError(f"the regressor answers {values.shape[1]} values a row; one is served")
    return values.reshape(len(x), 1)


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


def training_metrics(
    data: TrainingData, task: Task, answers: F64 | None, labels: list[str]
) -> dict[str, float]:
    """Accuracy (classifier) or R² and MAE (regressor) on the training rows, if a target."""
    if data.target is None or answers is None:
        return {}
    if task == "classification":
        predicted = [_label_key(labels[i]) for i in answers.argmax(axis=1)]
        truth = [_label_key(v) for v in data.target]
        return {"accuracy": float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))}
    y = numbers(data.path, "target", data.target)
    values = answers[:, 0]
    metrics = {"mae": float(np.abs(y - values).mean())}
    total = float(((y - y.mean()) ** 2).sum())
    if total > 0:
        metrics["r2"] = 1.0 - float(((y - values) ** 2).sum()) / total
    return dict(sorted(metrics.items()))


def _label_key(value: Any) -> tuple[int, Any]:
    """A label as the CSV spells it and as ``classes_`` holds it compare equal (1 == "1.0")."""
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, str(value))
