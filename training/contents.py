"""What a bundle holds besides its graphs: feature statistics, sample rows, the versions that
trained it, and the npz and JSON files, written byte for byte reproducibly."""

from __future__ import annotations

import io
import json
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from api.runtime.bundle import FeatureStats

F64 = npt.NDArray[np.float64]
SAMPLE_ROWS = 200
"""How many real training rows a bundle carries (``sample_rows`` in its manifest)."""
HISTOGRAM_BINS = 10
"""Reference histogram bins per feature (``bin_edges``, from training quantiles)."""
TRAINED_WITH = ("numpy", "scikit-learn", "pyod", "skl2onnx", "onnx")


def write_npz(path: Path, arrays: dict[str, npt.NDArray[Any]]) -> None:
    """Like ``np.savez`` but byte-for-byte reproducible (fixed zip timestamps, sorted names)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[key]), allow_pickle=False)
            zf.writestr(
                zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue()
            )


def write_json(path: Path, data: object) -> None:
    """Indented JSON with a final newline."""
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def feature_stats(x: F64, names: list[str], bins: int = HISTOGRAM_BINS) -> list[FeatureStats]:
    """Mean, population std, min, max and the reference histogram of every column."""
    stats = []
    for name, col in zip(names, x.T, strict=True):
        edges = reference_edges(col, bins)
        counts, _ = np.histogram(col, bins=np.asarray(edges))
        stats.append(
            FeatureStats(
                name=name,
                mean=float(col.mean()),
                std=float(col.std()),
                min=float(col.min()),
                max=float(col.max()),
                bin_edges=edges,
                bin_counts=[int(c) for c in counts],
            )
        )
    return stats


def reference_edges(col: F64, bins: int = HISTOGRAM_BINS) -> list[float]:
    """Up to ``bins`` + 1 increasing edges at the column's quantiles (so that the training rows
    spread evenly); repeated quantiles of a discrete column merge; a constant column gets
    one bin of width 1 around its value, as ``np.histogram`` would."""
    edges = np.unique(np.quantile(col, np.linspace(0.0, 1.0, bins + 1)))
    if len(edges) < 2:
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    return [float(e) for e in edges]


def sample_rows(x: F64, n: int = SAMPLE_ROWS) -> list[list[float]]:
    """Up to ``n`` training rows, drawn without replacement with a fixed seed (reproducible).

    Rounded to 6 decimals: the float32 training data widened to float64 would otherwise read
    5.099999904632568 for 5.1.
    """
    if len(x) > n:
        x = x[np.sort(np.random.default_rng(0).choice(len(x), size=n, replace=False))]
    return np.round(x, 6).tolist()  # type: ignore[no-any-return]


def trained_with() -> dict[str, str]:
    """Versions of the packages that trained and exported the bundle."""
    found = {}
    for package in TRAINED_WITH:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "unknown"
    return found
