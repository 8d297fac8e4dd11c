"""``predlog models``: deploy, weigh, promote, roll back and retire model versions.

Every subcommand is a client of the admin API (``--url``, ``PREDLOG_ADMIN_URL``); the
registry it changes is the one every worker of every replica serves from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from api.registry.client import AdminClient, AdminClientSettings, AdminError
from predlog.commands.remote import RemoteChoice, remote_options
from predlog.options import option, settings_options

_FORMAT = option(
    "--format",
    "fmt",
    env="PREDLOG_MODELS_FORMAT",
    type=click.Choice(["table", "json"]),
    default="table",
    help="A table for people, or JSON.",
)


@click.group(help="Deploy and steer model versions through the admin API.")
def command() -> None:
    """The ``predlog models`` group."""


@command.command(
    "list", help="Every version: state, weight, when and by whom; each worker's generation."
)
@click.argument("model", required=False)
@_FORMAT
@settings_options(AdminClientSettings, "admin")
def list_versions(admin: AdminClientSettings, model: str | None, fmt: str) -> None:
    answer = _run(lambda c: c.index(model), admin)
    if fmt == "json":
        click.echo(json.dumps(answer, indent=2))
        return
    rows = [
        [
            v["model"],
            v["version"],
            v["state"],
            _share(versions, v),
            v["created_by"],
            v["created_at"][:19],
        ]
        for versions in answer["models"].values()
        for v in versions
    ]
    click.echo(_table(["model", "version", "state", "traffic", "by", "created"], rows))
    click.echo(f"\ngeneration {answer['generation']}")
    workers = [
        [w["host"], str(w["pid"]), str(w["generation"]), w["seen_at"][:19]]
        for w in answer["workers"]
    ]
    if workers:
        click.echo(_table(["worker", "pid", "generation", "seen"], workers))


@command.command(
    help="Upload a bundle (directory, .tar.gz or .zip) and serve it everywhere; with --remote, "
    "a version that other servers answer (the bundle gives its manifest, and its detector)."
)
@click.argument("bundle", type=click.Path(exists=True, path_type=Path), required=False)
@option(
    "--model", env="PREDLOG_MODELS_MODEL", help="Model name (default: the bundle's manifest says)."
)
@option(
    "--weight",
    env="PREDLOG_MODELS_WEIGHT",
    type=click.FloatRange(min=0),
    default=1.0,
    help="Weight beside the serving versions.",
)
@option(
    "--replace",
    env="PREDLOG_MODELS_REPLACE",
    is_flag=True,
    help="Take all of the model's weighted traffic.",
)
@option(
    "--shadow",
    env="PREDLOG_MODELS_SHADOW",
    is_flag=True,
    help="Get a copy of the requests, never answer them.",
)
@option(
    "--shadow-fraction",
    env="PREDLOG_MODELS_SHADOW_FRACTION",
    type=click.FloatRange(min=0, max=1, min_open=True),
    default=1.0,
    help="Share of requests a shadow gets.",
)
@option(
    "--group",
    env="PREDLOG_MODELS_GROUP",
    default=None,
    help="The group of a new model (default: your key's); later versions stay in it.",
)
@remote_options
@settings_options(AdminClientSettings, "admin")
def deploy(
    admin: AdminClientSettings,
    bundle: Path | None,
    model: str | None,
    weight: float,
    replace: bool,
    shadow: bool,
    shadow_fraction: float,
    group: str | None,
    remote: RemoteChoice,
) -> None:
    if replace and shadow:
        raise click.UsageError("--replace and --shadow exclude each other")
    mode = "replace" if replace else "shadow" if shadow else "add"
    with remote.bundle(bundle, model) as upload:
        name = model or _manifest_name(upload)
        row = _run(
            lambda c: c.deploy(
                name, upload, mode=mode, weight=weight, shadow_fraction=shadow_fraction, group=group
            ),
            admin,
        )
    click.echo(f"{row['model']} version {row['version']}: {row['state']}, weight {row['weight']:g}")


@command.command(help="Set the traffic split: VERSION=WEIGHT ... (the others get 0).")
@click.argument("model")
@click.argument("split", nargs=-1, required=True)
@settings_options(AdminClientSettings, "admin")
def weight(admin: AdminClientSettings, model: str, split: tuple[str, ...]) -> None:
    weights: dict[str, float] = {}
    for item in split:
        version, sep, value = item.partition("=")
        try:
            weights[version] = float(value)
        except ValueError:
            sep = ""
        if not sep or not version:
            raise click.BadParameter(f"{item!r} is not VERSION=WEIGHT", param_hint="SPLIT")
    _show_split(_run(lambda c: c.weights(model, weights), admin))


@command.command(help="All of the model's weighted traffic to VERSION.")
@click.argument("model")
@click.argument("version")
@settings_options(AdminClientSettings, "admin")
def promote(admin: AdminClientSettings, model: str, version: str) -> None:
    _show_split(_run(lambda c: c.promote(model, version), admin))


@command.command(help="Back to the model's previous traffic split.")
@click.argument("model")
@settings_options(AdminClientSettings, "admin")
def rollback(admin: AdminClientSettings, model: str) -> None:
    _show_split(_run(lambda c: c.rollback(model), admin))


@command.command(help="Stop serving VERSION (it stays listed).")
@click.argument("model")
@click.argument("version")
@settings_options(AdminClientSettings, "admin")
def retire(admin: AdminClientSettings, model: str, version: str) -> None:
    _show_split(_run(lambda c: c.retire(model, version), admin))


@command.command(
    help="The deploy log (uploaded, checked, loaded on each worker, or the error) and the "
    "audit of admin calls on the model: who, what, when, from where, the outcome."
)
@click.argument("model")
@click.argument("version", required=False)
@_FORMAT
@settings_options(AdminClientSettings, "admin")
def logs(admin: AdminClientSettings, model: str, version: str | None, fmt: str) -> None:
    answer = _run(lambda c: c.logs(model, version), admin)
    if fmt == "json":
        click.echo(json.dumps(answer, indent=2))
        return
    rows = [
        [
            e["at"][:23],
            e["version"] or "",
            e["event"],
            f"{e['host']}/{e['pid']}" if e["host"] else (e["actor"] or ""),
            e["detail"] or "",
        ]
        for e in answer["events"]
    ]
    click.echo(_table(["at", "version", "event", "where / who", "detail"], rows))
    audit = [
        [
            a["at"][:23],
            a["version"] or "",
            a["action"],
            a["user"] or "(no key)",
            a["client"],
            str(a["status"]),
            a["detail"] or "",
        ]
        for a in answer.get("audit", [])
    ]
    if audit:
        click.echo("\naudit")
        click.echo(_table(["at", "version", "call", "who", "from", "status", "detail"], audit))


def _run(
    call: Callable[[AdminClient], dict[str, Any]], admin: AdminClientSettings
) -> dict[str, Any]:
    try:
        return call(AdminClient(admin))
    except AdminError as exc:
        raise click.ClickException(
            exc.message if exc.status == 0 else f"{exc.status}: {exc.message}"
        ) from None


def _manifest_name(bundle: Path) -> str:
    if not bundle.is_dir():
        raise click.UsageError("give --model for an archive (the name is read from a directory)")
    try:
        return str(json.loads((bundle / "manifest.json").read_text())["name"])
    except (OSError, ValueError, KeyError) as exc:
        raise click.UsageError(f"{bundle} has no readable manifest.json: {exc}") from None


def _share(versions: list[dict[str, Any]], row: dict[str, Any]) -> str:
    if row["state"] != "serving":
        return "-"
    total = sum(v["weight"] for v in versions if v["state"] == "serving")
    return f"{100 * row['weight'] / total:.0f}%" if total else "0%"


def _show_split(answer: dict[str, Any]) -> None:
    versions = answer["versions"]
    parts = [f"{v['version']}={_share(versions, v)}" for v in versions if v["state"] == "serving"]
    click.echo(f"{answer['model']}: {' '.join(parts)}")


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
