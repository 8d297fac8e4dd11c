"""The api's model runtime: bundles on disk, onnxruntime sessions, outlier scoring, routing.

Imports neither scikit-learn nor pyod: models are served from ONNX graphs and numpy.
"""

from __future__ import annotations

from api.runtime.bundle import BundleManifest, DetectorSpec, FeatureStats, load_manifest
from api.runtime.model import ModelVersion, OnnxModelVersion, Output
from api.runtime.registry import Registry

__all__ = [
    "BundleManifest",
    "DetectorSpec",
    "FeatureStats",
    "ModelVersion",
    "OnnxModelVersion",
    "Output",
    "Registry",
    "load_manifest",
]
