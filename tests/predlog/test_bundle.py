"""``predlog bundle``: the command's flags reach training.author; its errors are one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from api.runtime import load_manifest
from predlog.cli import main
from tests.training.authoring import Authoring, iris_classifier


@pytest.fixture(scope="module")
def clf(tmp_path_factory: pytest.TempPathFactory) -> Authoring:
    return iris_classifier(tmp_path_factory.mktemp("clf"))


def test_bundle_writes_and_says_what_it_checked(clf: Authoring, tmp_path: Path) -> None:
    out = tmp_path / "churn-3"
    args = ["bundle", "--model", str(clf.model), "--train-data", str(clf.train_data)]
    args += ["--target", "target", "--name", "churn", "--version", "3", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--detector", "mcd"])
    assert result.exit_code == 0, result.output
    assert f"churn:3 -> {out}" in result.output
    assert "checked: the bundle's probabilities agree with the estimator's" in result.output
    assert "training accuracy 0.9" in result.output
    manifest = load_manifest(out)
    assert manifest.detector is not None
    assert manifest.detector.algorithm == "pyod.models.mcd.MCD"
    assert manifest.labels == ["setosa", "versicolor", "virginica"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--detector", "lof"], "Error: detector 'lof' cannot be served without pyod"),
        (["--tolerance", "0"], "more than the tolerance 0"),
        (["--labels", "a,b"], "--labels names 2 classes, the model has 3"),
    ],
)
def test_bad_inputs_fail_with_one_clear_line(
    clf: Authoring, tmp_path: Path, extra: list[str], message: str
) -> None:
    args = ["bundle", "--model", str(clf.model), "--train-data", str(clf.train_data)]
    args += ["--target", "target", "--name", "m", "--version", "1", "--out", str(tmp_path / "b")]
    result = CliRunner().invoke(main, [*args, *extra])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_bundle_is_listed(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert "bundle" in result.output
    result = CliRunner().invoke(main, ["bundle", "--name", "m", "--version", "1"])
    assert result.exit_code == 2
    assert "Missing option '--train-data'" in result.output
