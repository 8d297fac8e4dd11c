"""``predlog groups``: make groups, share them, list their members.

Through the admin API by a manage member, or on the store directly (``--store``) by the
operator, who alone sets a group's limits.
"""

from __future__ import annotations

import click

from api.registry.client import AdminClientSettings
from predlog.commands.keys import ROLE, STORE, run
from predlog.commands.models import _table
from predlog.options import option, settings_options


@click.group(help="Make, share and list groups of models (--store: as the operator).")
def command() -> None:
    """The ``predlog groups`` group."""


@command.command(help="Make the group GROUP (you manage it).")
@click.argument("group")
@option(
    "--max-versions",
    "max_versions",
    env="PREDLOG_GROUPS_MAX_VERSIONS",
    type=click.IntRange(min=1),
    default=None,
    help="Most versions of one of its models online (default: the api's).",
)
@option(
    "--max-bundle-bytes",
    "max_bundle_bytes",
    env="PREDLOG_GROUPS_MAX_BUNDLE_BYTES",
    type=click.IntRange(min=1024),
    default=None,
    help="Largest bundle upload to it (default: the api's).",
)
@STORE
@settings_options(AdminClientSettings, "admin")
def create(
    admin: AdminClientSettings,
    group: str,
    max_versions: int | None,
    max_bundle_bytes: int | None,
    store: str | None,
) -> None:
    made = run(lambda a: a.create_group(group, max_versions, max_bundle_bytes), store, admin)
    managers = ", ".join(m["user"] for m in made["members"]) or "the operator"
    click.echo(f"group {made['group']} made; managed by {managers}")


@command.command("list", help="The groups you are a member of (the operator: all).")
@STORE
@settings_options(AdminClientSettings, "admin")
def list_groups(admin: AdminClientSettings, store: str | None) -> None:
    groups = run(lambda a: a.groups(), store, admin)["groups"]
    rows = [
        [
            g["group"],
            " ".join(f"{m['user']}={m['role']}" for m in g["members"]),
            str(g["max_versions"] or "-"),
            str(g["max_bundle_bytes"] or "-"),
            "required" if g.get("predict_needs_key") else "open",
        ]
        for g in groups
    ]
    header = ["group", "members", "max versions", "max bundle bytes", "predict key"]
    click.echo(_table(header, rows))


@command.command(
    "predict-key",
    help="Whether predicting with GROUP's models needs a key with the read role on it: "
    "required, or open (the default).",
)
@click.argument("group")
@click.argument("setting", type=click.Choice(["required", "open"]))
@STORE
@settings_options(AdminClientSettings, "admin")
def predict_key(admin: AdminClientSettings, group: str, setting: str, store: str | None) -> None:
    changed = run(lambda a: a.set_predict_key(group, setting == "required"), store, admin)
    needed = "need a key with the read role on it" if changed["predict_needs_key"] else "are open"
    click.echo(f"predictions with the models of group {changed['group']} {needed}")


@command.command(help="Give USER the --role on GROUP (replacing the one they had).")
@click.argument("group")
@click.argument("user")
@option("--role", "role", env="PREDLOG_GROUPS_ROLE", type=ROLE, required=True, help="The role.")
@STORE
@settings_options(AdminClientSettings, "admin")
def share(admin: AdminClientSettings, group: str, user: str, role: str, store: str | None) -> None:
    _show(run(lambda a: a.share(group, user, role), store, admin))


@command.command(help="Take USER out of GROUP.")
@click.argument("group")
@click.argument("user")
@STORE
@settings_options(AdminClientSettings, "admin")
def unshare(admin: AdminClientSettings, group: str, user: str, store: str | None) -> None:
    _show(run(lambda a: a.unshare(group, user), store, admin))


@command.command(help="GROUP's members and their roles.")
@click.argument("group")
@STORE
@settings_options(AdminClientSettings, "admin")
def members(admin: AdminClientSettings, group: str, store: str | None) -> None:
    _show(run(lambda a: a.members(group), store, admin))


def _show(answer: dict[str, object]) -> None:
    members = answer["members"]
    assert isinstance(members, list)
    rows = [[m["user"], m["role"], m["added_at"][:19], m["added_by"]] for m in members]
    click.echo(_table(["user", "role", "added", "by"], rows))
