"""Write a model bundle: a scikit-learn classifier exported to ONNX, a detector, labels, manifest.

The layout and the manifest are what ``api.runtime.bundle`` reads (docs/models.md). Files
are written deterministically (fixed ONNX opsets, no timestamps in the npz zip), the bundle
is built in a hidden sibling directory and renamed into place, then loaded once through
the api's own runtime and compared with the scikit-learn model before training returns.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import warnings
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType

from api.runtime.bundle import (
    MANIFEST,
    BundleManifest,
    DetectorSpec,
    FeatureStats,
    load_manifest,
    sha256_file,
)
from api.runtime.model import OnnxModelVersion
from api.runtime.outlier import unit_score
from training.detectors import FittedDetector
from training.graphs import LABEL_OUTPUT, OUTLIER_OUTPUT, SCORE_OUTPUT, combined_model

F64 = npt.NDArray[np.float64]
OPSETS = {"": 17, "ai.onnx.ml": 3}
"""Pinned so that the exported graphs do not change with the converter's newest opset."""
SAMPLE_ROWS = 200
"""How many real training rows a bundle carries (``sample_rows`` in its manifest)."""
TRAINED_WITH = ("numpy", "scikit-learn", "pyod", "skl2onnx", "onnx")


@dataclass(frozen=True)
class BundleSpec:
    """What a bundle is called and what its inputs and classes mean."""

    name: str
    version: str
    description: str
    feature_names: list[str]
    labels: list[str]


def export_classifier(classifier: Any, n_features: int) -> bytes:
    """A fitted scikit-learn classifier as ONNX bytes: float32 ``input`` -> ``probabilities``."""
    with warnings.catch_warnings():
        # skl2onnx reads SVC attributes that scikit-learn 1.9 marks as deprecated
        warnings.simplefilter("ignore", FutureWarning)
        onx = to_onnx(
            classifier,
            initial_types=[("input", FloatTensorType([None, n_features]))],
            options={"zipmap": False},
            target_opset=OPSETS,
        )
    data: bytes = onx.SerializeToString()
    return data


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


def feature_stats(x: F64, names: list[str]) -> list[FeatureStats]:
    """Mean, population std, min and max of every column."""
    return [
        FeatureStats(
            name=name,
            mean=float(col.mean()),
            std=float(col.std()),
            min=float(col.min()),
            max=float(col.max()),
        )
        for name, col in zip(names, x.T, strict=True)
    ]


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


def write_bundle(
    root: Path,
    spec: BundleSpec,
    x: F64,
    classifier: Any,
    detector: FittedDetector,
    detector_format: Literal["npz", "onnx"] = "npz",
    combined: bool = True,
) -> Path:
    """Export a fitted classifier and detector to ``root/<name>/<version>/``; returns that path.

    ``x`` is the training data (for the feature statistics and the export check). With
    ``combined`` (the default), ``model.onnx`` also embeds the detector and the threshold, so
    that the api answers a request with one onnxruntime call; the detector file is written
    either way (the runtime scores with it alone and checks the graph against it).
    """
    n_features = len(spec.feature_names)
    if x.ndim != 2 or x.shape[1] != n_features:
        raise ValueError(f"x has shape {x.shape}, expected (n, {n_features})")
    final = Path(root) / spec.name / spec.version
    work = final.parent / f".{spec.version}.tmp-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        graph = export_classifier(classifier, n_features)
        if combined:
            graph = combined_model(graph, detector, "input", "probabilities")
        (work / "model.onnx").write_bytes(graph)
        detector_file = f"detector.{detector_format}"
        if detector_format == "onnx":
            (work / detector_file).write_bytes(detector.to_onnx())
        else:
            write_npz(work / detector_file, detector.params)
        write_json(work / "labels.json", {str(i): label for i, label in enumerate(spec.labels)})
        files = ("model.onnx", detector_file, "labels.json")
        manifest = BundleManifest(
            name=spec.name,
            version=spec.version,
            description=spec.description,
            feature_names=spec.feature_names,
            input_shape=[None, n_features],
            dtype="float32",
            labels=spec.labels,
            outlier_threshold=detector.threshold,
            feature_stats=feature_stats(x, spec.feature_names),
            sample_rows=sample_rows(x),
            files={name: sha256_file(work / name) for name in files},
            label_output=LABEL_OUTPUT if combined else None,
            score_output=SCORE_OUTPUT if combined else None,
            outlier_output=OUTLIER_OUTPUT if combined else None,
            detector=DetectorSpec(
                file=detector_file,
                kind="onnx" if detector_format == "onnx" else detector.kind,
                algorithm=detector.algorithm,
                contamination=detector.contamination,
                raw_threshold=detector.raw_threshold,
                center=detector.center,
                slope=detector.slope,
            ),
            trained_with=trained_with(),
        )
        write_json(work / MANIFEST, manifest.model_dump(mode="json"))
        check_bundle(work, x, classifier, detector)
        _replace_dir(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def check_bundle(bundle_dir: Path, x: F64, classifier: Any, detector: FittedDetector) -> None:
    """Load the bundle with the api's runtime and compare it with the scikit-learn/pyod models."""
    served = OnnxModelVersion(bundle_dir, load_manifest(bundle_dir))
    served.load()
    try:
        out = served.predict(x.astype(np.float32))
        expected = classifier.predict_proba(x)
        gap = float(np.abs(out.proba - expected).max())
        if gap > 1e-4:
            raise RuntimeError(
                f"{bundle_dir}: ONNX probabilities differ by {gap} from scikit-learn"
            )
        raw = served.manifest.detector
        ref = detector.decision_function(x.astype(np.float32).astype(np.float64))
        ref_score = unit_score(ref, raw.center, raw.slope)
        # predict (the combined graph, when there is one) and the detector file alone
        for scores in (out.outlier_score, served.score_outliers(x.astype(np.float32))):
            score_gap = float(np.abs(scores - ref_score).max())
            if score_gap > 1e-6:
                raise RuntimeError(f"{bundle_dir}: outlier scores differ by {score_gap} from pyod")
        if not (out.label_index == out.proba.argmax(axis=1)).all():
            raise RuntimeError(f"{bundle_dir}: label_index is not the most probable class")
    finally:
        served.unload()


def _replace_dir(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``, replacing an older bundle there with two renames."""
    if dst.exists():
        old = dst.parent / f".{dst.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        dst.rename(old)
        src.rename(dst)
        shutil.rmtree(old)
    else:
        src.rename(dst)


def describe(bundle_dir: Path) -> str:
    """A few lines for people: where the bundle is, what it holds, its outlier threshold."""
    manifest = load_manifest(bundle_dir)
    lines = [
        f"{manifest.name}:{manifest.version} -> {bundle_dir}",
        f"  {manifest.description}",
        f"  features {manifest.feature_names}, labels {manifest.labels}",
        f"  outlier threshold {manifest.outlier_threshold:.3f} ({manifest.detector.algorithm}, "
        f"contamination {manifest.detector.contamination})",
    ]
    lines += [
        f"  {name:<14} {(bundle_dir / name).stat().st_size:>8} B  sha256 {digest[:16]}"
        for name, digest in manifest.files.items()
    ]
    return "\n".join(lines)
