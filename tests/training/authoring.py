"""What the ``predlog bundle`` tests start from: fitted models saved with joblib, and their
training data as CSV (``write_csv``); shared by tests/training, tests/api/runtime, tests/predlog."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from training.demo import FEATURES, iris_data

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Authoring:
    """A fitted estimator, the joblib file it was saved to and its training data file."""

    estimator: Any
    model: Path
    train_data: Path
    x: F64
    y: npt.NDArray[Any]
    feature_names: list[str]


def write_csv(path: Path, names: list[str], x: F64, target: npt.NDArray[Any] | None = None) -> Path:
    """The rows of ``x`` under a header of ``names`` (then a ``target`` column, if given)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([*names, "target"] if target is not None else names)
        for i, row in enumerate(x.tolist()):
            writer.writerow([*row, target[i]] if target is not None else row)
    return path


def iris_classifier(root: Path) -> Authoring:
    """StandardScaler + LogisticRegression on iris, its species names as the classes."""
    x, y, labels = iris_data()
    species = np.array(labels)[y]
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=0))
    pipeline.fit(x, species)
    model = root / "iris-clf.joblib"
    joblib.dump(pipeline, model)
    data = write_csv(root / "iris.csv", FEATURES, x, species)
    return Authoring(pipeline, model, data, x, species, FEATURES)


def diabetes_regressor(root: Path) -> Authoring:
    """GradientBoostingRegressor on scikit-learn's bundled diabetes data (442 rows, 10 features)."""
    diabetes = load_diabetes()
    x = np.asarray(diabetes.data, dtype=np.float32).astype(np.float64)
    y = np.asarray(diabetes.target, dtype=np.float64)
    names = [str(n) for n in diabetes.feature_names]
    regressor = GradientBoostingRegressor(n_estimators=40, max_depth=3, random_state=0).fit(x, y)
    model = root / "diabetes-gbr.joblib"
    joblib.dump(regressor, model)
    data = write_csv(root / "diabetes.csv", names, x, y)
    return Authoring(regressor, model, data, x, y, names)
