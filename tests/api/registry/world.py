"""A registry with groups, members and keys, served by a real app over a real store.

Group ``default`` holds the imported iris versions 1 and 2 (made by ``import``) and
version 3, deployed by carl. Keys: rita reads it, carl changes it, mona manages it, vic
(a victim of revokes and unshares) reads it, rex's key is revoked, and olga manages group
``fraud`` only. Calls come from a non-loopback address, so every one needs a key.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import uvicorn
from sqlalchemy import make_url

from api.app import create_app
from api.registry.access import AccessStore
from api.registry.archive import pack
from api.registry.operator import StoreAdmin
from api.settings import ApiSettings
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from tests.api.fixtures import AppClient
from tests.api.registry.test_admin import bundle_copy
from tests.support import PG_ADMIN_URL, free_port, temporary_database, wait_for

REMOTE = ("10.1.2.3", 4000)
MEMBERS = {  # caller -> (user, group, role)
    "read": ("rita", "default", "read"),
    "change": ("carl", "default", "change"),
    "manage": ("mona", "default", "manage"),
    "outsider": ("olga", "fraud", "manage"),
    "victim": ("vic", "default", "read"),
    "revoked": ("rex", "default", "manage"),
}


@dataclass
class World:
    """The app, the keys by caller, and the store's access tables."""

    client: AppClient
    keys: dict[str, str | None]
    key_ids: dict[str, str]
    access: AccessStore
    bundles: Path
    """Where bundles to upload are made (``bundle``)."""
    source: Path
    """The iris version 1 bundle the uploads are copies of."""

    def bundle(self, version: str) -> bytes:
        """An iris bundle of ``version``, packed for an upload."""
        target = self.bundles / version
        if not target.is_dir():
            bundle_copy(self.source, self.bundles, version)
        return pack(target)

    def user(self, caller: str) -> str | None:
        """Whose key ``caller`` presents (None: no valid key)."""
        return MEMBERS[caller][0] if caller in MEMBERS and caller != "revoked" else None


def settings_for(store_url: str, models_dir: Path, tmp: Path) -> ApiSettings:
    """The api's settings on ``store_url`` (nothing listens for records: they spool)."""
    return ApiSettings(
        forward=f"127.0.0.1:{free_port()}",
        spool_dir=tmp / "spool",
        store_url=store_url,
        models_dir=models_dir,
        bundle_cache=tmp / "bundles",
        registry_poll=0.2,
        max_versions=6,
        max_bundle_bytes=200_000,
        seed=7,
    )


@contextlib.contextmanager
def store_url(backend: str, tmp: Path) -> Iterator[str]:
    """An empty store on ``backend`` (sqlite, or a database of the real PostgreSQL)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'store.db'}"
        return
    from tests.conftest import require_postgres

    require_postgres()
    with temporary_database() as url:
        yield url


Keys = tuple[dict[str, str | None], dict[str, str]]
"""The keys by caller, and their ids."""


@contextlib.contextmanager
def world(
    url: str, models_dir: Path, tmp: Path, keys: Keys | None = None, **settings: Any
) -> Iterator[World]:
    """The world of this module's docstring: made on the empty store at ``url``, or (with
    the ``keys`` it was made with) served from a copy of one (``copy_store``); ``settings``
    change the api's (``settings_for``)."""
    engine = make_engine(url)
    if keys is None:
        upgrade(engine)
        keys = make_keys(StoreAdmin(engine, "ops"))
    tmp.joinpath("uploads").mkdir(exist_ok=True)
    try:
        api = settings_for(url, models_dir, tmp).model_copy(update=settings)
        with AppClient(create_app(api), client=REMOTE) as client:
            made = World(
                client,
                *keys,
                AccessStore(engine),
                tmp / "uploads",
                models_dir / "iris" / "1",
            )
            if not any(v.version == "3" for v in client.app.state.services.store.versions()):
                deployed = client.post(
                    "/admin/models/iris/versions",
                    content=made.bundle("3"),
                    headers={"content-type": "application/gzip", **auth(made.keys["change"])},
                )
                assert deployed.status_code == 201, deployed.text
            yield made
    finally:
        engine.dispose()


def make_keys(operator: StoreAdmin) -> Keys:
    """Every member's key (rex's revoked), as the operator makes them."""
    keys: dict[str, str | None] = {}
    key_ids: dict[str, str] = {}
    for caller, (user, group, role) in MEMBERS.items():
        made = operator.create_key(user, group, role)
        keys[caller], key_ids[caller] = made["key"], made["key_id"]
    operator.revoke_key(key_ids["revoked"])
    keys["none"] = None
    # a known key id with another secret: only the hash comparison can tell
    keys["wrong"] = f"plk_{key_ids['manage']}_{secrets.token_urlsafe(32)}"
    return keys, key_ids


@contextlib.contextmanager
def copy_store(url: str, tmp: Path) -> Iterator[str]:
    """A copy of the (idle) store at ``url``: the SQLite file, or a PostgreSQL database
    made from it as a template."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        source = Path(str(parsed.database))
        target = tmp / "copy.db"
        for suffix in ("", "-wal", "-shm"):
            if source.with_name(source.name + suffix).exists():
                shutil.copyfile(source.with_name(source.name + suffix), f"{target}{suffix}")
        yield f"sqlite:///{target}"
        return
    name, template = f"predlog_test_{uuid.uuid4().hex[:12]}", parsed.database
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        # the template's app has stopped; its pool may still hold idle connections
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (template,),
        )
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def served(settings: ApiSettings) -> Iterator[str]:
    """The api on ``settings``, served by uvicorn on a free loopback port in a thread: its URL."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def auth(key: str | None) -> dict[str, str]:
    """The Authorization header of ``key`` (none for None)."""
    return {"authorization": f"Bearer {key}"} if key else {}
