"""``predlog keys``: make, list and revoke API keys.

Through the admin API (``--url``, ``--key``) by a manage member of the key's group, or on
the store directly (``--store``) by the operator: that is how the first key is made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import click

from api.errors import ServiceError
from api.registry.client import AdminClient, AdminClientSettings, AdminError
from api.registry.operator import StoreAdmin
from predlog.commands.models import _table
from predlog.options import option, settings_options
from sidecar.store.engine import make_engine

STORE = option(
    "--store",
    "store",
    env="PREDLOG_ACCESS_STORE",
    default=None,
    help="Work on this store directly, as the operator (default: through the admin API).",
)
ROLE = click.Choice(["read", "change", "manage"])


class Access(Protocol):
    """What ``AdminClient`` and ``StoreAdmin`` both answer (each call returns its JSON)."""

    def groups(self) -> dict[str, Any]: ...
    def create_group(
        self, group: str, max_versions: int | None = None, max_bundle_bytes: int | None = None
    ) -> dict[str, Any]: ...
    def set_predict_key(self, group: str, required: bool) -> dict[str, Any]: ...
    def members(self, group: str) -> dict[str, Any]: ...
    def share(self, group: str, user: str, role: str) -> dict[str, Any]: ...
    def unshare(self, group: str, user: str) -> dict[str, Any]: ...
    def keys(self) -> dict[str, Any]: ...
    def create_key(self, user: str, group: str | None, role: str | None) -> dict[str, Any]: ...
    def revoke_key(self, key_id: str) -> dict[str, Any]: ...


def run(
    call: Callable[[Access], dict[str, Any]], store: str | None, admin: AdminClientSettings
) -> dict[str, Any]:
    """``call`` on the store (``store`` given) or through the admin API; a refusal is one line."""
    try:
        if store is None:
            return call(AdminClient(admin))
        engine = make_engine(store)
        try:
            return call(StoreAdmin(engine, admin.user))
        finally:
            engine.dispose()
    except AdminError as exc:
        raise click.ClickException(
            exc.message if exc.status == 0 else f"{exc.status}: {exc.message}"
        ) from None
    except ServiceError as exc:
        raise click.ClickException(f"{exc.status_code}: {exc.message}") from None


@click.group(help="Make, list and revoke API keys (--store: as the operator, on the store).")
def command() -> None:
    """The ``predlog keys`` group."""


@command.command(help="Make a key for USER and print it, once (it is stored only as a hash).")
@option("--user", "user", env="PREDLOG_KEYS_USER", required=True, help="Whose key it is.")
@option(
    "--group",
    "group",
    env="PREDLOG_KEYS_GROUP",
    default=None,
    help="The group it is for (default: the user's own); made if missing (--store).",
)
@option(
    "--role",
    "role",
    env="PREDLOG_KEYS_ROLE",
    type=ROLE,
    default=None,
    help="The user's role on the group (default: keep theirs, else read).",
)
@STORE
@settings_options(AdminClientSettings, "admin", fields=["url", "timeout", "key"])
def create(
    admin: AdminClientSettings, user: str, group: str | None, role: str | None, store: str | None
) -> None:
    made = run(lambda a: a.create_key(user, group, role), store, admin)
    click.echo(
        f"key {made['key_id']} for {made['user']} (group {made['group']}); it is shown this once:",
        err=True,
    )
    click.echo(made["key"])


@command.command("list", help="Every key you may see: id, user, group, made when and by whom.")
@STORE
@settings_options(AdminClientSettings, "admin")
def list_keys(admin: AdminClientSettings, store: str | None) -> None:
    keys = run(lambda a: a.keys(), store, admin)["keys"]
    rows = [
        [
            k["key_id"],
            k["user"],
            k["group"],
            k["created_at"][:19],
            k["created_by"],
            (k["revoked_at"] or "")[:19],
        ]
        for k in keys
    ]
    click.echo(_table(["key", "user", "group", "created", "by", "revoked"], rows))


@command.command(help="Revoke the key KEY_ID: from now on it gets 401.")
@click.argument("key_id")
@STORE
@settings_options(AdminClientSettings, "admin")
def revoke(admin: AdminClientSettings, key_id: str, store: str | None) -> None:
    done = run(lambda a: a.revoke_key(key_id), store, admin)
    click.echo(f"key {done['key_id']} of {done['user']} revoked at {done['revoked_at'][:19]}")
