"""``predlog keys``, ``predlog groups`` and ``predlog models logs`` as a user types them: on
the store as the operator, and through the admin API of a real api server (uvicorn on a
free port, in a thread)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from predlog.cli import main as predlog
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from tests.api.registry.world import served, settings_for


@pytest.fixture
def store(store_url: str) -> str:
    engine = make_engine(store_url)
    upgrade(engine)
    engine.dispose()
    return store_url


@pytest.fixture
def api_url(store: str, models_dir: Path, tmp_path: Path) -> Iterator[str]:
    """A real api server on ``store`` (nothing listens for its records: they spool)."""
    with served(settings_for(store, models_dir, tmp_path)) as url:
        yield url


def run(*args: str) -> str:
    result = CliRunner().invoke(predlog, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def fails(*args: str) -> str:
    result = CliRunner().invoke(predlog, list(args), catch_exceptions=False)
    assert result.exit_code == 1, result.output
    return result.output


def test_the_operator_on_the_store(store: str) -> None:
    out = run("keys", "create", "--user", "alice", "--group", "fraud", "--role", "change",
              "--store", store)  # fmt: skip
    key_id, key = out.splitlines()[0].split()[1], out.splitlines()[-1]
    assert key.startswith(f"plk_{key_id}_")
    assert run("groups", "predict-key", "fraud", "required", "--store", store) == (
        "predictions with the models of group fraud need a key with the read role on it\n"
    )
    listed = run("groups", "list", "--store", store)
    assert "predict key" in listed.splitlines()[0]
    fraud = next(line for line in listed.splitlines() if line.startswith("fraud"))
    assert "alice=change" in fraud
    assert fraud.split()[-1] == "required"
    assert run("groups", "predict-key", "fraud", "open", "--store", store).endswith("are open\n")
    keys = run("keys", "list", "--store", store)
    assert key_id in keys
    assert key not in keys  # the id, never the key
    assert "revoked" in run("keys", "revoke", key_id, "--store", store)
    assert "is revoked already" in fails("keys", "revoke", key_id, "--store", store)


def test_through_the_admin_api(store: str, api_url: str) -> None:
    manage = run("keys", "create", "--user", "mona", "--group", "default", "--role", "manage",
                 "--store", store).splitlines()[-1]  # fmt: skip
    read = run("keys", "create", "--user", "rita", "--group", "default", "--role", "read",
               "--store", store).splitlines()[-1]  # fmt: skip
    api = ["--url", api_url]
    # a read member may not close the group, a manage member may
    refused = fails("groups", "predict-key", "default", "required", *api, "--key", read)
    assert "403: closing or opening predictions needs the manage role on group 'default'" in (
        refused
    )
    assert "need a key" in run(
        "groups", "predict-key", "default", "required", *api, "--key", manage
    )
    assert "401: this call needs an API key" in fails("models", "list", *api)
    assert "401: this call needs an API key" in fails("models", "rollback", "iris", *api)
    assert "403: promoting a version needs the change role" in fails(
        "models", "promote", "iris", "2", *api, "--key", read
    )
    # the audit below the deploy log: who, what, when, from where, the outcome
    logs = run("models", "logs", "iris", *api, "--key", read)
    deploy_log, audit = logs.split("\naudit\n")
    assert "uploaded" in deploy_log
    header, *rows = audit.splitlines()
    assert header.split() == ["at", "version", "call", "who", "from", "status", "detail"]
    promote = next(r for r in rows if " promote " in r)
    assert "rita" in promote
    assert "127.0.0.1" in promote
    assert " 403 " in promote
    assert "needs the change role" in promote
    unauthorized = next(r for r in rows if "(no key)" in r)
    assert " 401 " in unauthorized
    for secret in (manage, read):
        assert secret.partition("_")[2].partition("_")[2] not in logs
