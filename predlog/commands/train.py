"""``predlog train``: build the demo model bundles."""

from __future__ import annotations

from pathlib import Path

import click

from training.bundle import describe
from training.demo import train_demo_bundles


@click.command(name="train")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/models"),
    show_default=True,
    envvar="PREDLOG_MODELS_DIR",
    show_envvar=True,
    help="Models root: bundles are written to OUT/<name>/<version>/ (replacing older ones).",
)
def command(out: Path) -> None:
    """Train the demo bundles (iris versions 1 and 2) from scikit-learn's bundled data."""
    for bundle_dir in train_demo_bundles(out):
        click.echo(describe(bundle_dir))
