"""Loading a bundle verifies its manifest, files and labels; anything unsound is a BundleError."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from api.errors import BundleError
from api.runtime import Registry, load_manifest
from api.runtime.bundle import find_bundles


@pytest.fixture
def bundle(models_dir: Path, tmp_path: Path) -> Path:
    """A private copy of iris version 1, free to damage."""
    target = tmp_path / "iris" / "1"
    shutil.copytree(models_dir / "iris" / "1", target)
    return target


def test_demo_bundle_loads(bundle: Path) -> None:
    manifest = load_manifest(bundle)
    assert manifest.name == "iris"
    assert manifest.n_features == 4
    assert set(manifest.files) == {"model.onnx", "detector.npz", "labels.json"}
    assert 0 < manifest.outlier_threshold < 1


@pytest.mark.parametrize("name", ["model.onnx", "detector.npz", "labels.json"])
def test_tampered_file(bundle: Path, name: str) -> None:
    with (bundle / name).open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BundleError, match=f"checksum mismatch for '{name}'"):
        load_manifest(bundle)


@pytest.mark.parametrize("name", ["model.onnx", "detector.npz", "labels.json"])
def test_missing_file(bundle: Path, name: str) -> None:
    (bundle / name).unlink()
    with pytest.raises(BundleError, match=f"missing file '{name}'"):
        load_manifest(bundle)


def test_missing_manifest(bundle: Path) -> None:
    (bundle / "manifest.json").unlink()
    with pytest.raises(BundleError, match=r"no manifest\.json"):
        load_manifest(bundle)


def edit_manifest(bundle: Path, **changes: object) -> None:
    path = bundle / "manifest.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_unparseable_manifest(bundle: Path) -> None:
    (bundle / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="invalid manifest"):
        load_manifest(bundle)


@pytest.mark.parametrize(
    "changes",
    [
        {"input_shape": [None, 5]},
        {"outlier_threshold": 1.5},
        {"dtype": "float64"},
        {"files": {"model.onnx": "0" * 64}},
        {"feature_names": ["a", "b", "c", "d"]},
    ],
)
def test_inconsistent_manifest(bundle: Path, changes: dict[str, object]) -> None:
    edit_manifest(bundle, **changes)
    with pytest.raises(BundleError, match="invalid manifest"):
        load_manifest(bundle)


def test_file_outside_bundle(bundle: Path) -> None:
    data = json.loads((bundle / "manifest.json").read_text())
    data["files"]["../../escape"] = "0" * 64
    (bundle / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match="outside the bundle"):
        load_manifest(bundle)


def test_labels_disagree(bundle: Path) -> None:
    edit_manifest(bundle, labels=["a", "b", "c"])
    with pytest.raises(BundleError, match="differ from the manifest"):
        load_manifest(bundle)


def test_directory_must_match_manifest(bundle: Path) -> None:
    bundle.rename(bundle.parent / "7")
    with pytest.raises(BundleError, match="manifest says iris/1"):
        Registry.from_directory(bundle.parent.parent)


def test_empty_root(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no model bundles"):
        Registry.from_directory(tmp_path)


def test_hidden_directories_are_not_bundles(bundle: Path) -> None:
    shutil.copytree(bundle, bundle.parent / ".2.tmp-1")
    assert find_bundles(bundle.parent.parent) == [bundle]
