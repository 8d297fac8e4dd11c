"""Training data for ``predlog bundle``: a CSV (or Parquet) table of numeric features.

The header names the features in the model's order; a target column, if named, is kept apart
(as read: a classifier's labels may be text). Values are rounded through float32, the dtype
the api serves, so that statistics and checks see what serving will.
"""

from __future__ import annotations

import csv
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


class DataError(ValueError):
    """The training data cannot be read as a table of numeric features; the message says where."""


@dataclass(frozen=True)
class TrainingData:
    """The training table: feature columns as float64 rows, and the target column if named."""

    path: Path
    feature_names: list[str]
    x: F64
    target: list[Any] | None = None


def read_training_data(path: Path, target: str | None = None) -> TrainingData:
    """A CSV (or, with pyarrow installed, Parquet) file whose header names the features in the
    model's order; ``target`` is left out of the features and kept apart."""
    if not path.is_file():
        raise DataError(f"--train-data {path}: no such file")
    if path.suffix.lower() in (".parquet", ".pq"):
        header, columns = _read_parquet(path)
    else:
        header, columns = _read_csv(path)
    if len(set(header)) != len(header):
        raise DataError(f"{path}: the header names a column twice: {header}")
    if target is not None and target not in header:
        raise DataError(f"{path}: no target column {target!r} (columns: {', '.join(header)})")
    names = [c for c in header if c != target]
    if not names:
        raise DataError(f"{path}: no feature columns")
    x = np.column_stack([numbers(path, c, columns[c]) for c in names])
    if len(x) < 2:
        raise DataError(f"{path}: {len(x)} rows; a bundle needs at least 2 training rows")
    return TrainingData(path, names, x, None if target is None else list(columns[target]))


def _read_csv(path: Path) -> tuple[list[str], dict[str, list[Any]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        if not header or not all(header):
            raise DataError(f"{path}: the first line must name every column")
        rows = [row for row in reader if row]
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise DataError(f"{path} line {line}: {len(row)} values, the header has {len(header)}")
    return header, {h: [row[i].strip() for row in rows] for i, h in enumerate(header)}


def _read_parquet(path: Path) -> tuple[list[str], dict[str, list[Any]]]:
    try:
        parquet: Any = importlib.import_module("pyarrow.parquet")
    except ImportError as exc:
        raise DataError(
            f"{path}: reading Parquet needs pyarrow (not a dependency of predlog's train extra: "
            "pip install pyarrow), or give the training data as CSV"
        ) from exc
    table = parquet.read_table(path)
    return list(table.column_names), {c: table.column(c).to_pylist() for c in table.column_names}


def numbers(path: Path, column: str, values: list[Any]) -> F64:
    out = np.empty(len(values))
    for i, value in enumerate(values):
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            raise DataError(
                f"{path}: column {column!r}, row {i + 1}: {value!r} is not a number (features "
                "must be numeric; name a label column with --target)"
            ) from None
    if not np.isfinite(out).all():
        bad = int(np.argmin(np.isfinite(out)))
        raise DataError(f"{path}: column {column!r}, row {bad + 1}: {values[bad]!r} is not finite")
    # served as float32: train, check and describe on the values the api will see
    return out.astype(np.float32).astype(np.float64)
