"""Every admin route x every kind of caller, over the real app and a real store: the status,
the message (401; 403 naming the role needed; 404 that tells nothing of other groups), and
the audit row each call leaves (who, what, from where, the outcome).

Calls that change nothing (every refusal, every read) share one world per store; each call
that changes the registry or the access tables gets a world of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.api.registry.world import REMOTE, Keys, World, auth, copy_store, store_url, world

Answer = tuple[int, str | None]
"""A status, and the error message (None for a success)."""
CALLERS = ("none", "wrong", "revoked", "read", "change", "manage", "outsider")
UNAUTHORIZED = {
    "none": "this call needs an API key (Authorization: Bearer <key>; predlog: --key)",
    "wrong": "unknown API key",
    "revoked": "API key '{revoked}' was revoked",
}
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@dataclass(frozen=True)
class Route:
    """One admin route as a caller calls it, and what each role gets."""

    name: str
    method: str
    path: str
    answers: dict[str, Answer]
    """read, change, manage, outsider -> (status, the error message; None for a success)."""
    body: str | None = None
    """"bundle": an upload of a new version; else a JSON body by name (``BODIES``)."""
    query: tuple[tuple[str, str], ...] = ()


def needs(what: str, role: str, held: str) -> str:
    return f"{what} needs the {role} role on group 'default' (yours: {held})"


NO_MODEL = (404, "no model 'iris'")
NO_GROUP = (404, "no group 'default'")
OK: Answer = (200, None)
MADE: Answer = (201, None)
ROLES = ("read", "change", "manage", "outsider")
ALL_OK, ALL_MADE = dict.fromkeys(ROLES, OK), dict.fromkeys(ROLES, MADE)
BODIES: dict[str, Any] = {
    "weights": {"1": 1, "2": 1, "3": 2},
    "group": {"name": "team-{caller}"},
    "group-limits": {"name": "capped-{caller}", "max_versions": 2},
    "key": {"user": "newbie", "group": "default", "role": "read"},
}
ROUTES = [
    Route("list", "GET", "/admin/models", ALL_OK),
    Route("show", "GET", "/admin/models/iris", ALL_OK),
    Route("deploy", "POST", "/admin/models/iris/versions", {
        "read": (403, needs("deploying a version", "change", "read")),
        "change": MADE, "manage": MADE,
        "outsider": (409, "the model name 'iris' is taken: choose another"),
    }, body="bundle"),
    Route("weights", "PUT", "/admin/models/iris/weights", {
        "read": (403, needs("changing the traffic split", "change", "read")),
        "change": OK, "manage": OK, "outsider": NO_MODEL,
    }, body="weights"),
    Route("promote-own", "POST", "/admin/models/iris/versions/3/promote", {
        "read": (403, needs("promoting a version", "change", "read")),
        "change": OK, "manage": OK, "outsider": NO_MODEL,
    }),
    Route("promote-other", "POST", "/admin/models/iris/versions/2/promote", {
        "read": (403, needs("promoting a version", "change", "read")),
        "change": OK, "manage": OK, "outsider": NO_MODEL,
    }),
    Route("rollback", "POST", "/admin/models/iris/rollback", {
        "read": (403, needs("rolling back", "change", "read")),
        "change": OK, "manage": OK, "outsider": NO_MODEL,
    }),
    Route("retire-own", "POST", "/admin/models/iris/versions/3/retire", {
        "read": (403, needs("retiring a version", "change", "read")),
        "change": OK, "manage": OK, "outsider": NO_MODEL,
    }),
    Route("retire-other", "POST", "/admin/models/iris/versions/1/retire", {
        "read": (403, needs("retiring a version", "change", "read")),
        "change": (403, needs("retiring a version 'import' deployed", "manage", "change")),
        "manage": OK, "outsider": NO_MODEL,
    }),
    Route("logs", "GET", "/admin/models/iris/logs", ALL_OK),
    Route("groups", "GET", "/admin/groups", ALL_OK),
    Route("create-group", "POST", "/admin/groups", ALL_MADE, body="group"),
    Route("create-group-limits", "POST", "/admin/groups", dict.fromkeys(
        ROLES, (403, "only the operator sets a group's limits")
    ), body="group-limits"),
    Route("predict-key", "PUT", "/admin/groups/default/predict-key", {
        "read": (403, needs("closing or opening predictions", "manage", "read")),
        "change": (403, needs("closing or opening predictions", "manage", "change")),
        "manage": OK, "outsider": NO_GROUP,
    }, query=(("required", "true"),)),
    Route("members", "GET", "/admin/groups/default/members", {
        "read": OK, "change": OK, "manage": OK, "outsider": NO_GROUP,
    }),
    Route("share", "PUT", "/admin/groups/default/members/zed", {
        "read": (403, needs("sharing a group", "manage", "read")),
        "change": (403, needs("sharing a group", "manage", "change")),
        "manage": OK, "outsider": NO_GROUP,
    }, query=(("role", "read"),)),
    Route("unshare", "DELETE", "/admin/groups/default/members/vic", {
        "read": (403, needs("removing a member", "manage", "read")),
        "change": (403, needs("removing a member", "manage", "change")),
        "manage": OK, "outsider": NO_GROUP,
    }),
    Route("keys", "GET", "/admin/keys", ALL_OK),
    Route("create-key", "POST", "/admin/keys", {
        "read": (403, needs("making a key", "manage", "read")),
        "change": (403, needs("making a key", "manage", "change")),
        "manage": MADE, "outsider": NO_GROUP,
    }, body="key"),
    Route("revoke-key", "POST", "/admin/keys/{victim}/revoke", {
        "read": (404, "no API key '{victim}'"),
        "change": (404, "no API key '{victim}'"),
        "manage": OK, "outsider": (404, "no API key '{victim}'"),
    }),
]  # fmt: skip
READS = {"list", "show", "logs", "groups", "members", "keys"}
"""Routes whose success changes nothing."""


def expected(route: Route, caller: str) -> Answer:
    if caller in UNAUTHORIZED:
        return 401, UNAUTHORIZED[caller]
    return route.answers[caller]


def changes(route: Route, caller: str) -> bool:
    return expected(route, caller)[0] < 300 and route.name not in READS


CELLS = [(r, c) for r in ROUTES for c in CALLERS]
REFUSED_OR_READ = [pytest.param(r, c, id=f"{r.name}-{c}") for r, c in CELLS if not changes(r, c)]
ON_POSTGRESQL = {
    "deploy-change", "retire-own-change", "retire-other-manage", "weights-change",
    "predict-key-manage", "unshare-manage", "create-key-manage", "revoke-key-manage",
}  # fmt: skip
"""The changes also made on PostgreSQL (every one is made on SQLite)."""
CHANGING = [
    pytest.param(backend, r, c, id=f"{backend}-{r.name}-{c}", marks=marks)
    for backend, marks in (("sqlite", ()), ("postgresql", pytest.mark.postgres))
    for r, c in CELLS
    if changes(r, c) and (backend == "sqlite" or f"{r.name}-{c}" in ON_POSTGRESQL)
]


def call(w: World, route: Route, caller: str) -> tuple[int, dict[str, Any]]:
    """``route`` as ``caller`` calls it; (status, answer)."""
    names = {"victim": w.key_ids["victim"], "revoked": w.key_ids["revoked"], "caller": caller}
    headers = auth(w.keys[caller])
    kwargs: dict[str, Any] = {"params": dict(route.query)}
    if route.body == "bundle":
        kwargs["content"] = w.bundle("4")
        headers["content-type"] = "application/gzip"
    elif route.body is not None:
        kwargs["json"] = {
            k: v.format(**names) if isinstance(v, str) else v for k, v in BODIES[route.body].items()
        }
    response = w.client.request(route.method, route.path.format(**names), headers=headers, **kwargs)
    return response.status_code, response.json()


def check(w: World, route: Route, caller: str) -> dict[str, Any]:
    """Call ``route`` as ``caller``: the status, the message and the audit row it left."""
    names = {"victim": w.key_ids["victim"], "revoked": w.key_ids["revoked"]}
    before = len(w.access.audit_events(limit=100_000))
    status, answer = call(w, route, caller)
    want_status, want_message = expected(route, caller)
    assert status == want_status, answer
    if want_message is None:
        assert "error" not in answer
    else:
        assert answer["error"] == {
            "type": answer["error"]["type"],
            "message": want_message.format(**names),
            "status": want_status,
        }
    audit = w.access.audit_events(limit=100_000)
    assert len(audit) == before + 1, "one audit row per call"
    row = audit[-1]
    assert row["client"] == REMOTE[0]
    assert row["status"] == status
    assert row["user"] == w.user(caller)
    assert row["key_id"] == (w.key_ids[caller] if w.user(caller) else None)
    if status >= 400:
        assert row["detail"] == answer["error"]["message"]
    return answer


@pytest.fixture(scope="module", params=BACKENDS)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, models_dir: Path
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp(f"shared-{request.param}")
    with store_url(request.param, tmp) as url, world(url, models_dir, tmp) as w:
        yield w


@pytest.mark.parametrize(("route", "caller"), REFUSED_OR_READ)
def test_refusals_and_reads(shared: World, route: Route, caller: str) -> None:
    answer = check(shared, route, caller)
    if caller != "outsider" or answer.get("error"):
        return
    # what another group's member reads says nothing of group default and its models
    text = str(answer)
    assert "'default'" not in text
    assert "carl" not in text
    assert "rita" not in text
    if route.name == "list":
        assert answer["models"] == {}
    if route.name == "show":
        assert answer["models"] == {"iris": []}
    if route.name == "logs":
        assert (answer["events"], answer["audit"]) == ([], [])


Template = Callable[[str], tuple[str, Keys]]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[Template]:
    """backend -> a store the world was made on (idle now) and its keys; made when asked."""
    made: dict[str, tuple[str, Keys]] = {}
    with contextlib.ExitStack() as stack:

        def get(backend: str) -> tuple[str, Keys]:
            if backend not in made:
                tmp = tmp_path_factory.mktemp(f"template-{backend}")
                url = stack.enter_context(store_url(backend, tmp))
                with world(url, models_dir, tmp) as w:
                    made[backend] = (url, (w.keys, w.key_ids))
            return made[backend]

        yield get


@pytest.mark.parametrize(("backend", "route", "caller"), CHANGING)
def test_changes(
    backend: str, route: Route, caller: str, template: Template, tmp_path: Path, models_dir: Path
) -> None:
    url, keys = template(backend)
    with copy_store(url, tmp_path) as copy, world(copy, models_dir, tmp_path, keys) as fresh:
        check(fresh, route, caller)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/admin/models/{name}/rollback"),
        ("PUT", "/admin/models/{name}/weights"),
        ("POST", "/admin/models/{name}/versions/1/retire"),
        ("GET", "/admin/groups/{group}/members"),
        ("PUT", "/admin/groups/{group}/members/zed?role=read"),
        ("PUT", "/admin/groups/{group}/predict-key?required=true"),
    ],
)
def test_another_groups_member_cannot_tell_theirs_from_nothing(
    shared: World, method: str, path: str
) -> None:
    """The answer on group default's model (or on default) and on one that does not exist
    are the same but for the name."""
    key = auth(shared.keys["outsider"])
    body = {"1": 1} if method == "PUT" and "weights" in path else None
    seen = []
    for name, group in (("iris", "default"), ("nosuch", "nogroup")):
        url = path.format(name=name, group=group)
        response = shared.client.request(method, url, headers=key, json=body)
        text = response.text.replace(name, "X").replace(group, "X")
        seen.append((response.status_code, text.split('"message":')[1]))
    assert seen[0] == seen[1]
    assert seen[0][0] == 404


def test_the_matrix_is_every_admin_route(shared: World) -> None:
    """ROUTES covers every route the app serves under /admin."""
    schema = shared.client.get("/openapi.json").json()
    served = {
        (method.upper(), path)
        for path, item in schema["paths"].items()
        if path.startswith("/admin")
        for method in item
    }
    templates = {
        "/admin/models/iris": "/admin/models/{name}",
        "/admin/models/iris/versions": "/admin/models/{name}/versions",
        "/admin/models/iris/weights": "/admin/models/{name}/weights",
        "/admin/models/iris/rollback": "/admin/models/{name}/rollback",
        "/admin/models/iris/logs": "/admin/models/{name}/logs",
        "/admin/models/iris/versions/3/promote": "/admin/models/{name}/versions/{version}/promote",
        "/admin/models/iris/versions/2/promote": "/admin/models/{name}/versions/{version}/promote",
        "/admin/models/iris/versions/3/retire": "/admin/models/{name}/versions/{version}/retire",
        "/admin/models/iris/versions/1/retire": "/admin/models/{name}/versions/{version}/retire",
        "/admin/groups/default/predict-key": "/admin/groups/{group}/predict-key",
        "/admin/groups/default/members": "/admin/groups/{group}/members",
        "/admin/groups/default/members/zed": "/admin/groups/{group}/members/{user}",
        "/admin/groups/default/members/vic": "/admin/groups/{group}/members/{user}",
        "/admin/keys/{victim}/revoke": "/admin/keys/{key_id}/revoke",
    }
    covered = {(r.method, templates.get(r.path, r.path)) for r in ROUTES}
    assert covered == served
