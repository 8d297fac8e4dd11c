"""``predlog bundle``: turn a fitted scikit-learn model (or an ONNX file) into a model bundle."""

from __future__ import annotations

from pathlib import Path

import click

from predlog.options import option
from training.author import AuthorError, bundle_model
from training.bundle import describe
from training.verify import TOLERANCE

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _labels(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    """Comma-separated class names, in class index order."""
    if value is None:
        return None
    labels = [v.strip() for v in value.split(",")]
    if not all(labels):
        raise click.BadParameter("an empty class name", ctx, param)
    return labels


@click.command(name="bundle")
@option(
    "--model",
    env="PREDLOG_BUNDLE_MODEL",
    type=EXISTING_FILE,
    help="A fitted scikit-learn estimator or Pipeline "
    "(classifier or regressor), saved with joblib or pickle.",
)
@option(
    "--onnx",
    "onnx_file",
    env="PREDLOG_BUNDLE_ONNX",
    type=EXISTING_FILE,
    help="An ONNX graph to serve instead of exporting --model (checked against "
    "--model when both are given).",
)
@option(
    "--train-data",
    env="PREDLOG_BUNDLE_TRAIN_DATA",
    type=EXISTING_FILE,
    required=True,
    help="CSV (or Parquet, with pyarrow) whose header names the features in the model's order.",
)
@option(
    "--target",
    env="PREDLOG_BUNDLE_TARGET",
    help="Label column of --train-data: not a feature; the training "
    "accuracy (or R² and MAE) goes into the manifest.",
)
@option("--name", env="PREDLOG_BUNDLE_NAME", required=True, help="Model name.")
@option("--version", env="PREDLOG_BUNDLE_VERSION", required=True, help="Model version.")
@option(
    "--out",
    env="PREDLOG_BUNDLE_OUT",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Bundle directory to write (an older bundle there is replaced).",
)
@option(
    "--detector",
    env="PREDLOG_BUNDLE_DETECTOR",
    default="knn",
    show_default=True,
    help="pyod outlier detector: knn, mcd or hbos.",
)
@option(
    "--contamination",
    env="PREDLOG_BUNDLE_CONTAMINATION",
    type=click.FloatRange(0.0, 0.5, min_open=True),
    default=0.05,
    show_default=True,
    help="Training-row fraction the outlier threshold flags.",
)
@option(
    "--labels",
    env="PREDLOG_BUNDLE_LABELS",
    callback=_labels,
    help="Class names in index order, comma-separated (default: the estimator's "
    "classes_, or the class indices for --onnx).",
)
@option(
    "--output",
    env="PREDLOG_BUNDLE_OUTPUT",
    help="--onnx: the graph output that answers (default: probabilities, "
    "variable, or its only float output).",
)
@option(
    "--description",
    env="PREDLOG_BUNDLE_DESCRIPTION",
    help="A line for people (default: what the model is).",
)
@option(
    "--tolerance",
    env="PREDLOG_BUNDLE_TOLERANCE",
    type=click.FloatRange(min=0.0),
    default=TOLERANCE,
    show_default=True,
    help="Largest gap allowed between the bundle's answers and "
    "the estimator's: absolute for probabilities, relative for values.",
)
def command(
    model: Path | None,
    onnx_file: Path | None,
    train_data: Path,
    target: str | None,
    name: str,
    version: str,
    out: Path,
    detector: str,
    contamination: float,
    labels: list[str] | None,
    output: str | None,
    description: str | None,
    tolerance: float,
) -> None:
    """Turn a fitted model and its training data into a bundle the api serves."""
    try:
        authored = bundle_model(
            out,
            name,
            version,
            train_data,
            model=model,
            onnx_file=onnx_file,
            target=target,
            detector=detector,
            contamination=contamination,
            description=description,
            labels=labels,
            output=output,
            tolerance=tolerance,
        )
    except AuthorError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(describe(authored.path))
    for note in authored.notes:
        click.echo(f"  {note}")
