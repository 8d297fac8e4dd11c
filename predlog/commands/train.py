"""``predlog train``: build the demo model bundles."""

from __future__ import annotations

from pathlib import Path

import click

from api.settings import ApiSettings
from predlog.options import field_option
from training.bundle import describe
from training.demo import train_demo_bundles


@click.command(name="train")
@field_option(
    ApiSettings,
    "models_dir",
    "--out",
    dest="out",
    help="Models root: bundles are written to OUT/<name>/<version>/ (replacing older ones).",
)
def command(out: Path) -> None:
    """Train the demo bundles (iris versions 1 and 2) from scikit-learn's bundled data."""
    for bundle_dir in train_demo_bundles(out):
        click.echo(describe(bundle_dir))
