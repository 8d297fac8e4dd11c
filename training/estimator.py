"""The author's fitted scikit-learn estimator: loaded (here only, never in the api), checked
against the training data, and what it answers for the training rows.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from training.onnxfile import Task
from training.tables import TrainingData, numbers

F64 = npt.NDArray[np.float64]


class EstimatorError(ValueError):
    """The estimator cannot make a bundle (or disagrees with the data); the message says why."""


def load_estimator(path: Path) -> Any:
    """A fitted scikit-learn estimator from a joblib or pickle file (here, never in the api)."""
    import joblib  # type: ignore[import-untyped]  # noqa: PLC0415 - only this command unpickles
    from sklearn.exceptions import NotFittedError  # noqa: PLC0415
    from sklearn.utils.validation import check_is_fitted  # noqa: PLC0415

    if not path.is_file():
        raise EstimatorError(f"--model {path}: no such file")
    try:
        estimator = joblib.load(path)
    except Exception as exc:  # unpickling raises whatever the pickled classes raise
        raise EstimatorError(f"--model {path}: cannot load it with joblib: {exc}") from exc
    if not hasattr(estimator, "predict") or not hasattr(estimator, "get_params"):
        raise EstimatorError(f"--model {path}: a {type(estimator).__name__}, not an estimator")
    try:
        check_is_fitted(estimator)
    except NotFittedError as exc:
        raise EstimatorError(f"--model {path}: the estimator is not fitted: {exc}") from exc
    return estimator


def estimator_task(estimator: Any) -> Task:
    """Classification or regression, as scikit-learn tags the estimator (a Pipeline: its last
    step); EstimatorError for anything else or a classifier without probabilities."""
    from sklearn.base import is_classifier, is_regressor  # noqa: PLC0415

    if is_classifier(estimator):
        if not hasattr(estimator, "predict_proba"):
            raise EstimatorError(
                f"{type(estimator).__name__} has no predict_proba: a bundle serves class "
                "probabilities (e.g. SVC(probability=True), or CalibratedClassifierCV)"
            )
        return "classification"
    if is_regressor(estimator):
        return "regression"
    raise EstimatorError(f"{type(estimator).__name__} is neither a classifier nor a regressor")


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
            raise EstimatorError(
                f"{data.path}: its feature columns {names} disagree with the model's "
                f"feature_names_in_ {expected} ({why}); the header must name the model's "
                "features in its order (and --target the label column)"
            )
    n_in = getattr(estimator, "n_features_in_", None)
    if n_in is not None and int(n_in) != len(names):
        raise EstimatorError(
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
        raise EstimatorError(f"the regressor answers {values.shape[1]} values a row; one is served")
    return values.reshape(len(x), 1)


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
