"""A group's predict key: open by default; closed, the prediction routes of its models need a
key with the read role on it, checked by each worker from what it loaded with the registry's
generation (no store read per request); the key is never in a record, a log or an answer."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, event, select

from api.app import create_app
from api.registry.archive import pack
from tests.api.fixtures import AppClient, ForwardReceiver
from tests.api.registry.test_admin import rewrite
from tests.api.registry.world import REMOTE, World, auth, settings_for, world
from tests.support import wait_for

ROW = {"data": [[5.1, 3.5, 1.4, 0.2]]}
ROUTES = [  # (method, path, body): every prediction route, on iris
    ("POST", "/predict?model=iris", ROW),
    ("POST", "/predict/label?model=iris", ROW),
    ("POST", "/predict/batch?model=iris", ROW),
    ("GET", "/predict/test?model=iris", None),
    (
        "POST",
        "/v2/models/iris/infer",
        {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": ROW["data"]}]},
    ),
]
BODIES: list[str] = []
"""Every answer ``predict`` got."""
NO_KEY = (
    "model 'iris' needs an API key with the read role on its group (Authorization: Bearer <key>)"
)
OTHER_GROUP = "predicting with model 'iris' needs the read role on its group"


@pytest.fixture
def closable(
    store_url: str, models_dir: Path, tmp_path: Path, receiver: ForwardReceiver
) -> Iterator[World]:
    """The world, its records sent to ``receiver``, and model flower in olga's group fraud."""
    with world(store_url, models_dir, tmp_path, forward=f"127.0.0.1:{receiver.port}") as w:
        flower = w.bundles / "flower"
        w.bundle("flower")  # a copy of iris 1 ...
        rewrite(flower, name="flower", version="1")  # ... as model flower
        made = w.client.post(
            "/admin/models/flower/versions",
            content=pack(flower),
            headers={"content-type": "application/gzip", **auth(w.keys["outsider"])},
        )
        assert made.status_code == 201, made.text
        assert made.json()["group"] == "fraud"
        yield w


def predict(client: AppClient, key: str | None, raw: str | None = None) -> list[tuple[int, str]]:
    """Every prediction route on iris with ``key`` (or the raw Authorization ``raw``):
    (status, error message or '') per route."""
    headers = {"authorization": raw} if raw is not None else auth(key)
    answers = []
    for method, path, body in ROUTES:
        response = client.request(method, path, json=body, headers=headers)
        BODIES.append(response.text)
        error = response.json().get("error", "") if response.status_code != 200 else ""
        answers.append(
            (response.status_code, error["message"] if isinstance(error, dict) else error)
        )
    return answers


def store_dump(engine: Engine) -> str:
    """Every row of every table of the store, as text."""
    tables = MetaData()
    tables.reflect(engine)
    with engine.connect() as conn:
        return " ".join(
            repr(row) for table in tables.sorted_tables for row in conn.execute(select(table))
        )


def close(w: World, required: bool = True) -> dict[str, Any]:
    response = w.client.put(
        "/admin/groups/default/predict-key",
        params={"required": str(required).lower()},
        headers=auth(w.keys["manage"]),
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_open_by_default_and_closed_per_group(
    closable: World, receiver: ForwardReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    w, client = closable, closable.client
    for caller in ("none", "wrong", "revoked", "read", "outsider"):
        assert predict(client, w.keys[caller]) == [(200, "")] * len(ROUTES), caller

    assert close(w)["predict_needs_key"] is True
    listed = client.get("/admin/groups", headers=auth(w.keys["manage"])).json()["groups"]
    assert {g["group"]: g["predict_needs_key"] for g in listed} == {"default": True, "mona": False}
    assert predict(client, None) == [(401, NO_KEY)] * len(ROUTES)
    assert predict(client, w.keys["wrong"]) == [(401, "unknown API key")] * len(ROUTES)
    revoked = f"API key {w.key_ids['revoked']!r} was revoked"
    assert predict(client, w.keys["revoked"]) == [(401, revoked)] * len(ROUTES)
    bad = "the Authorization header must be 'Bearer <API key>'"
    assert predict(client, None, raw="Basic cml0YTpwdw==") == [(401, bad)] * len(ROUTES)
    for caller in ("read", "change", "manage", "victim"):  # every role includes read
        assert predict(client, w.keys[caller]) == [(200, "")] * len(ROUTES), caller
    assert predict(client, w.keys["outsider"]) == [(403, OTHER_GROUP)] * len(ROUTES)
    # another group's model stays open
    flower = client.post("/predict?model=flower", json=ROW)
    assert flower.status_code == 200
    assert flower.json()["model"] == "flower"

    # a revoked key, a member taken out: refused at once on this worker
    rita = client.post(f"/admin/keys/{w.key_ids['read']}/revoke", headers=auth(w.keys["manage"]))
    assert rita.status_code == 200
    revoked = f"API key {w.key_ids['read']!r} was revoked"
    assert predict(client, w.keys["read"])[0] == (401, revoked)
    out = client.request(
        "DELETE", "/admin/groups/default/members/vic", headers=auth(w.keys["manage"])
    )
    assert out.status_code == 200
    assert predict(client, w.keys["victim"])[0] == (403, OTHER_GROUP)
    # a new member's new key works at once
    made = client.post(
        "/admin/keys",
        json={"user": "nina", "group": "default", "role": "read"},
        headers=auth(w.keys["manage"]),
    )
    assert made.status_code == 201, made.text
    nina = made.json()["key"]
    assert predict(client, nina) == [(200, "")] * len(ROUTES)

    assert close(w, required=False)["predict_needs_key"] is False
    assert predict(client, None) == [(200, "")] * len(ROUTES)

    # the refusals are logged like any answer; no key is in a record, a log or an answer
    wait_for(lambda: any(r["status"] == 403 for r in receiver.records))
    records = receiver.records
    statuses = {r["status"] for r in records if r["endpoint"].startswith(("/predict", "/v2"))}
    assert {200, 401, 403} <= statuses
    refused = [r for r in records if r["status"] == 401 and r["endpoint"] == "/predict"]
    assert refused[0]["error"] == NO_KEY
    assert refused[0]["model"] == "iris"
    secrets = [k.removeprefix("plk_").partition("_")[2] for k in (*w.keys.values(), nina) if k]
    store = store_dump(w.access.engine)
    answers = " ".join(BODIES)
    assert "unknown API key" in answers
    for secret in secrets:
        assert secret not in str(records)
        assert secret not in caplog.text
        assert secret not in store
        assert secret not in answers
    assert "predict-key" in {a["action"] for a in w.access.audit_events(limit=10_000)}


def test_every_worker_follows_the_setting(
    closable: World, store_url: str, models_dir: Path, tmp_path: Path
) -> None:
    """Another worker (or replica) on the same store closes and opens within a poll."""
    other_settings = settings_for(store_url, models_dir, tmp_path / "other")
    with AppClient(create_app(other_settings), client=REMOTE) as other:
        assert predict(other, None)[0] == (200, "")
        close(closable)
        wait_for(lambda: predict(other, None)[0] == (401, NO_KEY), timeout=20)
        assert predict(other, closable.keys["read"])[0] == (200, "")
        revoke = f"/admin/keys/{closable.key_ids['read']}/revoke"
        manage = auth(closable.keys["manage"])
        assert closable.client.post(revoke, headers=manage).status_code == 200
        wait_for(lambda: predict(other, closable.keys["read"])[0][0] == 401, timeout=20)


def test_no_store_read_per_request(store_url: str, models_dir: Path, tmp_path: Path) -> None:
    """With the group closed, answering (200, 401, 403) reads nothing from the store."""
    with world(store_url, models_dir, tmp_path, registry_poll=3600.0) as w:
        close(w)
        engine = w.client.app.state.services.store.engine
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(str(args[2]))

        event.listen(engine, "before_cursor_execute", count)
        try:
            for caller in ("read", "none", "outsider", "wrong", "manage"):
                predict(w.client, w.keys[caller])
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert statements == []


def test_the_schema_says_where_a_key_goes(closable: World) -> None:
    schema = closable.client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    optional: list[dict[str, list[str]]] = [{}, {"HTTPBearer": []}]
    for path, method in (
        ("/predict", "post"),
        ("/predict/label", "post"),
        ("/predict/batch", "post"),
        ("/predict/test", "get"),
    ):
        operation = schema["paths"][path][method]
        assert operation["security"] == optional, path
        assert {"401", "403"} <= set(operation["responses"]), path
    for path, item in schema["paths"].items():
        if path.startswith("/admin"):
            for operation in item.values():
                assert operation["security"] == [{"HTTPBearer": []}], path
    assert "security" not in schema["paths"]["/health"]["get"]
