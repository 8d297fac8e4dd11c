"""API keys and roles on the admin API over a real store: who gets which status, and the
key never appears in the store, the logs or an answer."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import MetaData, select

from api.app import create_app
from api.registry.operator import StoreAdmin
from api.settings import ApiSettings
from sidecar.store.engine import make_engine
from tests.api.fixtures import AppClient
from tests.api.registry.test_admin import registry_settings  # noqa: F401 - a fixture

REMOTE = ("10.1.2.3", 4000)


@pytest.fixture
def keys(registry_settings: ApiSettings) -> dict[str, str]:  # noqa: F811
    assert registry_settings.store_url
    engine = make_engine(registry_settings.store_url)
    op = StoreAdmin(engine, "ops")
    made = {
        "read": op.create_key("rita", "default", "read")["key"],
        "change": op.create_key("carl", "default", "change")["key"],
        "manage": op.create_key("mona", "default", "manage")["key"],
        "other": op.create_key("olga", "fraud", "manage")["key"],
    }
    revoked = op.create_key("rex", "default", "manage")
    op.revoke_key(revoked["key_id"])
    made["revoked"] = revoked["key"]
    engine.dispose()
    return made


@pytest.fixture
def app(registry_settings: ApiSettings) -> Iterator[AppClient]:  # noqa: F811
    with AppClient(create_app(registry_settings), client=REMOTE) as c:
        yield c


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def test_who_gets_what(
    app: AppClient, keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []

    def call(method: str, url: str, key: str | None) -> tuple[int, str]:
        headers = auth(key) if key else {}
        response = app.request(method, url, headers=headers)
        bodies.append(response.text)
        message = response.json().get("error", {}).get("message", "")
        return response.status_code, message

    routes = [
        ("GET", "/admin/models"),
        ("GET", "/admin/models/iris"),
        ("GET", "/admin/models/iris/logs"),
        ("POST", "/admin/models/iris/rollback"),
        ("POST", "/admin/models/iris/versions/2/promote"),
        ("POST", "/admin/models/iris/versions/1/retire"),
        ("GET", "/admin/keys"),
        ("GET", "/admin/groups"),
        ("GET", "/admin/groups/default/members"),
    ]
    for method, url in routes:
        assert call(method, url, None)[0] == 401, url
        assert call(method, url, "plk_0000_nope")[0] == 401, url
        status, message = call(method, url, keys["revoked"])
        assert (status, "was revoked" in message) == (401, True), url
    # read: sees, may not change (403 naming the role)
    assert call("GET", "/admin/models/iris", keys["read"])[0] == 200
    status, message = call("POST", "/admin/models/iris/versions/2/promote", keys["read"])
    assert status == 403
    assert "needs the change role on group 'default'" in message
    # change: steers traffic, but retires only its own versions (these were imported)
    assert call("POST", "/admin/models/iris/versions/2/promote", keys["change"])[0] == 200
    status, message = call("POST", "/admin/models/iris/versions/1/retire", keys["change"])
    assert status == 403
    assert "needs the manage role" in message
    assert call("POST", "/admin/models/iris/versions/1/retire", keys["manage"])[0] == 200
    # another group's member cannot tell iris from a model that does not exist
    other = call("POST", "/admin/models/iris/rollback", keys["other"])
    missing = call("POST", "/admin/models/nosuch/rollback", keys["other"])
    assert other == (404, "no model 'iris'")
    assert missing == (404, "no model 'nosuch'")
    listing = app.get("/admin/models", headers=auth(keys["other"])).json()
    assert listing["models"] == {}
    shown = app.get("/admin/models/iris", headers=auth(keys["other"])).json()
    assert shown["models"] == {"iris": []}
    # the audit says who did what, from where, and how it ended
    audit = app.get("/admin/models/iris/logs", headers=auth(keys["read"])).json()["audit"]
    outcomes = {(a["user"], a["action"], a["status"]) for a in audit}
    assert ("carl", "promote", 200) in outcomes
    assert ("carl", "retire", 403) in outcomes
    assert (None, "rollback", 401) in outcomes
    assert {a["client"] for a in audit} == {REMOTE[0]}
    # predictions stay open
    assert app.post("/predict", json={"data": [[5.1, 3.5, 1.4, 0.2]]}).status_code == 200

    secrets = [k.removeprefix("plk_").partition("_")[2] for k in keys.values()]
    logged = caplog.text
    for secret in secrets:
        assert secret not in logged
        assert not any(secret in body for body in bodies)


def test_keys_never_reach_the_store(
    registry_settings: ApiSettings,  # noqa: F811
    keys: dict[str, str],
) -> None:
    assert registry_settings.store_url
    engine = make_engine(registry_settings.store_url)
    tables = MetaData()
    tables.reflect(engine)
    with engine.connect() as conn:
        dump = " ".join(
            repr(row) for table in tables.sorted_tables for row in conn.execute(select(table))
        )
    engine.dispose()
    for key in keys.values():
        assert key.removeprefix("plk_").partition("_")[2] not in dump  # the secret (may hold "_")


def test_loopback_needs_no_key_until_one_exists(registry_settings: ApiSettings) -> None:  # noqa: F811
    with AppClient(create_app(registry_settings)) as local:
        assert local.get("/admin/models").status_code == 200
        made = local.post("/admin/keys", json={"user": "ann", "group": "default"})
        assert made.status_code == 201, made.text
        key = made.json()["key"]
        refused = local.get("/admin/models")
        assert refused.status_code == 401
        assert "needs an API key" in refused.json()["error"]["message"]
        assert local.get("/admin/models", headers=auth(key)).status_code == 200
