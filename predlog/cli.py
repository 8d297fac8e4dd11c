"""The ``predlog`` command: parses flags and calls into the parts, nothing more.

Each subcommand lives in ``predlog.commands.<name>`` and is imported only when it
runs, so ``predlog api`` never imports the sidecar's or the dashboard's dependencies.
"""

from __future__ import annotations

import importlib

import click

SUBCOMMANDS: dict[str, str] = {
    "api": "Serve the inference API.",
    "bundle": "Turn a fitted scikit-learn model or an ONNX file into a model bundle.",
    "dashboard": "Serve the monitoring dashboard.",
    "db": "Create or migrate the log store's schema.",
    "groups": "Make, share and list groups of models.",
    "keys": "Make, list and revoke API keys.",
    "load": "Generate load against a running api.",
    "models": "Deploy, weigh, promote, roll back and retire model versions.",
    "query": "Read the log store from the command line.",
    "run": "Start every part on one machine.",
    "sidecar": "Receive log records and store them.",
    "train": "Train the demo model bundles.",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        module = importlib.import_module(f"predlog.commands.{cmd_name}")
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="predlog")
def main() -> None:
    """predlog: serve models and keep a queryable log of every prediction."""
