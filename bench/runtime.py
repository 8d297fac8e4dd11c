"""Per-row cost of classification and outlier scoring, per model version and batch size.

``python -m bench.runtime --models var/models`` prints a table and returns the figures
(microseconds per row); the target is under 50 us a row for each at every batch size.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from api.runtime import ModelVersion, Registry

BATCH_SIZES = (1, 10, 100, 1000)
TARGET_US = 50.0


def rows_like(mv: ModelVersion, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` float32 rows drawn from the training statistics in the manifest."""
    stats = mv.manifest.feature_stats
    mean = np.array([s.mean for s in stats])
    std = np.array([s.std for s in stats])
    return np.ascontiguousarray(rng.normal(mean, std, size=(n, len(stats))), dtype=np.float32)


def per_row_us(fn: Callable[[np.ndarray], object], batch: np.ndarray, seconds: float) -> float:
    """Best of five timed rounds of ``fn(batch)``, in microseconds per row."""
    fn(batch)  # warm-up
    calls = 1
    while True:  # size a round to about seconds / 5
        start = time.perf_counter()
        for _ in range(calls):
            fn(batch)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 25 or calls >= 1 << 20:
            break
        calls *= 4
    per_round = max(1, int(calls * (seconds / 5) / max(elapsed, 1e-9)))
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(per_round):
            fn(batch)
        best = min(best, (time.perf_counter() - start) / per_round)
    return best * 1e6 / len(batch)


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Measure every version under ``--models``; print a table; return the figures."""
    parser = argparse.ArgumentParser(prog="bench.runtime", description=__doc__)
    parser.add_argument(
        "--models", type=Path, default=Path(os.environ.get("PREDLOG_MODELS_DIR", "var/models"))
    )
    parser.add_argument(
        "--seconds", type=float, default=0.5, help="time per measurement (default 0.5)"
    )
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=list(BATCH_SIZES))
    args = parser.parse_args(argv)

    registry = Registry.from_directory(args.models)
    registry.load()
    rng = np.random.default_rng(0)
    results: list[dict[str, object]] = []
    print(
        f"{'model':<12}{'version':<9}{'batch':>6}{'classify us/row':>17}{'outlier us/row':>16}"
        f"{'predict us/row':>16}"
    )
    try:
        for name in registry.names():
            for mv in registry.versions(name):
                for size in args.batch_sizes:
                    batch = rows_like(mv, size, rng)
                    classify = per_row_us(mv.classify, batch, args.seconds)
                    outlier = per_row_us(mv.score_outliers, batch, args.seconds)
                    total = per_row_us(mv.predict, batch, args.seconds)
                    print(
                        f"{name:<12}{mv.version:<9}{size:>6}{classify:>17.2f}{outlier:>16.2f}"
                        f"{total:>16.2f}"
                    )
                    results.append(
                        {
                            "model": name,
                            "version": mv.version,
                            "batch": size,
                            "classify_us_per_row": round(classify, 3),
                            "outlier_us_per_row": round(outlier, 3),
                            "predict_us_per_row": round(total, 3),
                        }
                    )
    finally:
        registry.unload()
    worst_classify = max(float(r["classify_us_per_row"]) for r in results)  # type: ignore[arg-type]
    worst_outlier = max(float(r["outlier_us_per_row"]) for r in results)  # type: ignore[arg-type]
    print(
        f"worst: classify {worst_classify:.2f} us/row, outlier {worst_outlier:.2f} us/row "
        f"(target < {TARGET_US:.0f})"
    )
    return {
        "runtime": results,
        "classify_us_per_row_max": worst_classify,
        "outlier_us_per_row_max": worst_outlier,
        "target_us_per_row": TARGET_US,
    }


if __name__ == "__main__":
    main()
