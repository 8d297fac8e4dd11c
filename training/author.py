"""``predlog bundle``: a data scientist's fitted model (or ONNX file) and training data -> a bundle.

The pickle (joblib) is loaded here only, on the author's machine; the bundle holds the ONNX
graph, a pyod detector exported to numpy/ONNX, statistics and a sample of the training rows,
nothing that needs scikit-learn, pyod or unpickling to serve (``training.bundle``).
"""

from __future__ import annotations

import csv
import importlib
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from api.errors import BundleError
from api.runtime.bundle import MANIFEST
from api.runtime.session import open_session
from training.bundle import TOLERANCE, BundleSpec, GraphIO, build_bundle, export_model
from training.detectors import DETECTORS, fit_detector

F64 = npt.NDArray[np.float64]
Task = Literal["classification", "regression"]
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""What a model name or version may be: it becomes a directory and a URL path segment."""


class AuthorError(ValueError):
    """The model, the training data or the flags cannot make a bundle; the message says why."""


@dataclass(frozen=True)
class TrainingData:
    """The training table: feature columns as float64 rows, and the target column if named."""

    path: Path
    feature_names: list[str]
    x: F64
    target: list[Any] | None = None


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
    _check_out(out)
    data = read_training_data(train_data, target)
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
        io, answers, task = graph_answers(onnx_file, data, output, task)
        if expected is not None and expected.shape != answers.shape:
            raise AuthorError(
                f"--onnx {onnx_file}: output {io.output_name!r} answers {answers.shape[1]} "
                f"columns a row, the estimator {expected.shape[1]}: not the same model"
            )
    else:
        graph = export_model(estimator, data.x.shape[1], regression=task == "regression")
        io = GraphIO(output_name="variable" if task == "regression" else "probabilities")
        answers = None
    assert task is not None  # from the estimator, else from the graph
    class_names = class_labels(estimator, labels, task, answers, onnx_file, data, notes)
    metrics = training_metrics(data, task, expected if answers is None else answers, class_names)
    fitted = fit_detector(detector, data.x, contamination)
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
    what = "values" if task == "regression" else "probabilities"
    if gap is None:
        notes.append(
            f"not checked against an estimator (--onnx without --model): the graph loads, takes "
            f"{len(data.feature_names)} features and answers {what} for the "
            f"{len(data.x)} training rows"
        )
    else:
        notes.append(
            f"checked: the bundle's {what} agree with the estimator's on {len(data.x)} "
            f"training rows (largest gap {gap:.2g}, tolerance {tolerance:g})"
        )
    notes += [f"training {key} {value:.4g} (target {target!r})" for key, value in metrics.items()]
    return Authored(path, task, notes)


def _check_out(out: Path) -> None:
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST).exists())
    ):
        raise AuthorError(f"{out} exists and is not a bundle directory: choose another --out")


def _describe(
    estimator: Any, onnx_file: Path | None, model: Path | None, task: Task, algorithm: str
) -> str:
    source = type(estimator).__name__ if estimator is not None else f"ONNX graph {onnx_file}"
    if estimator is not None and hasattr(estimator, "steps"):
        source = " + ".join(type(step).__name__ for _, step in estimator.steps)
    origin = model.name if model is not None else ""
    return f"{source} ({task}{', ' + origin if origin else ''}); outliers by {algorithm}."


def read_training_data(path: Path, target: str | None = None) -> TrainingData:
    """A CSV (or, with pyarrow installed, Parquet) file whose header names the features in the
    model's order; ``target`` is left out of the features and kept apart."""
    if not path.is_file():
        raise AuthorError(f"--train-data {path}: no such file")
    if path.suffix.lower() in (".parquet", ".pq"):
        header, columns = _read_parquet(path)
    else:
        header, columns = _read_csv(path)
    if len(set(header)) != len(header):
        raise AuthorError(f"{path}: the header names a column twice: {header}")
    if target is not None and target not in header:
        raise AuthorError(f"{path}: no target column {target!r} (columns: {', '.join(header)})")
    names = [c for c in header if c != target]
    if not names:
        raise AuthorError(f"{path}: no feature columns")
    x = np.column_stack([_numbers(path, c, columns[c]) for c in names])
    if len(x) < 2:
        raise AuthorError(f"{path}: {len(x)} rows; a bundle needs at least 2 training rows")
    return TrainingData(path, names, x, None if target is None else list(columns[target]))


def _read_csv(path: Path) -> tuple[list[str], dict[str, list[Any]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        if not header or not all(header):
            raise AuthorError(f"{path}: the first line must name every column")
        rows = [row for row in reader if row]
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise AuthorError(
                f"{path} line {line}: {len(row)} values, the header has {len(header)}"
            )
    return header, {h: [row[i].strip() for row in rows] for i, h in enumerate(header)}


def _read_parquet(path: Path) -> tuple[list[str], dict[str, list[Any]]]:
    try:
        parquet: Any = importlib.import_module("pyarrow.parquet")
    except ImportError as exc:
        raise AuthorError(
            f"{path}: reading Parquet needs pyarrow (not a dependency of predlog's train extra: "
            "pip install pyarrow), or give the training data as CSV"
        ) from exc
    table = parquet.read_table(path)
    return list(table.column_names), {c: table.column(c).to_pylist() for c in table.column_names}


def _numbers(path: Path, column: str, values: list[Any]) -> F64:
    out = np.empty(len(values))
    for i, value in enumerate(values):
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            raise AuthorError(
                f"{path}: column {column!r}, row {i + 1}: {value!r} is not a number (features "
                "must be numeric; name a label column with --target)"
            ) from None
    if not np.isfinite(out).all():
        bad = int(np.argmin(np.isfinite(out)))
        raise AuthorError(
            f"{path}: column {column!r}, row {bad + 1}: {values[bad]!r} is not finite"
        )
    # served as float32: train, check and describe on the values the api will see
    return out.astype(np.float32).astype(np.float64)


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


def graph_answers(
    path: Path, data: TrainingData, output: str | None, task: Task | None
) -> tuple[GraphIO, F64, Task]:
    """Open an ONNX file as the api will (it must load), check its input against the training
    data's width, and run it on the training rows; the output used and the task it answers."""
    try:
        session = open_session(path)
    except BundleError as exc:
        raise AuthorError(f"--onnx {exc}") from exc
    inputs = session.get_inputs()
    n = len(data.feature_names)
    if len(inputs) != 1 or inputs[0].type != "tensor(float)":
        raise AuthorError(
            f"--onnx {path}: the graph takes {[(i.name, i.type) for i in inputs]}; a bundle's "
            f"graph takes one float32 tensor (n, {n})"
        )
    shape = inputs[0].shape
    width = shape[1] if len(shape) == 2 else None
    if len(shape) != 2 or (isinstance(width, int) and width != n):
        raise AuthorError(
            f"--onnx {path}: the graph's input {inputs[0].name!r} has shape {shape}, the "
            f"training data has {n} feature columns {data.feature_names}"
        )
    name = output or _pick_output(path, session, task)
    try:
        (answer,) = session.run([name], {inputs[0].name: data.x.astype(np.float32)})
    except Exception as exc:  # onnxruntime raises its own unrelated exception types
        raise AuthorError(f"--onnx {path}: running output {name!r} failed: {exc}") from exc
    values = np.asarray(answer)
    if values.dtype != np.float32 or values.ndim != 2 or len(values) != len(data.x):
        raise AuthorError(
            f"--onnx {path}: output {name!r} is {values.dtype} {values.shape}; a bundle needs "
            f"float32 ({len(data.x)}, n_labels) probabilities or ({len(data.x)}, 1) values"
        )
    found: Task = "regression" if values.shape[1] == 1 else "classification"
    if task is not None and task != found:
        raise AuthorError(
            f"--onnx {path}: output {name!r} has {values.shape[1]} columns, but the estimator "
            f"is a {'regressor' if task == 'regression' else 'classifier'}"
        )
    return GraphIO(inputs[0].name, name), values.astype(np.float64), found


def _pick_output(path: Path, session: ort.InferenceSession, task: Task | None) -> str:
    outputs: dict[str, str] = {o.name: o.type for o in session.get_outputs()}
    preferred = {"classification": ["probabilities"], "regression": ["variable"]}
    for candidate in preferred.get(task or "", ["probabilities", "variable"]):
        if candidate in outputs:
            return candidate
    floats = [n for n, t in outputs.items() if t == "tensor(float)"]
    if len(floats) == 1:
        return floats[0]
    raise AuthorError(
        f"--onnx {path}: which output is the prediction? outputs {outputs}; name it with "
        "--output (a classifier's must be a probability tensor: export with zipmap off)"
    )


def class_labels(
    estimator: Any,
    given: list[str] | None,
    task: Task,
    answers: F64 | None,
    onnx_file: Path | None,
    data: TrainingData,
    notes: list[str],
) -> list[str]:
    """Class names in index order: ``--labels``, else the estimator's ``classes_``, else the
    class indices; a regressor has none."""
    if task == "regression":
        if given:
            raise AuthorError("--labels: a regressor has no labels")
        return []
    if estimator is not None:
        found = [str(c) for c in estimator.classes_]
    else:
        assert answers is not None
        found = [str(i) for i in range(answers.shape[1])]
    if given:
        if len(given) != len(found):
            raise AuthorError(f"--labels names {len(given)} classes, the model has {len(found)}")
        return given
    if estimator is None:
        notes.append(f"labels are the class indices {found} (name them with --labels)")
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
    y = _numbers(data.path, "target", data.target)
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
