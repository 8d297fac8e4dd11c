"""The admin audit on the Models page: the rows the api's admin handler writes (allowed and
refused calls, the operator's and a key holder's), read by ``queries.audit`` and drawn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from api.errors import ServiceError
from api.registry.admin import AdminHandler, import_directory
from api.registry.operator import StoreAdmin
from api.registry.store import RegistryStore
from dashboard import queries
from dashboard.window import Filters
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from tests.dashboard.apptest import start

# What the store's audit holds after ``audited``, newest first: (user, action, model,
# version, status, client)
EXPECTED = [
    ("ann", "promote", "iris", "2", 403, "10.0.0.7"),
    ("ann", "show", "iris", None, 200, "10.0.0.7"),
    (None, "promote", "iris", None, 401, "10.0.0.9"),
    ("ops", "share", None, None, 200, "store (predlog command line)"),
    ("ops", "create-key", None, None, 201, "store (predlog command line)"),
]


@pytest.fixture
def audited(store_url: str, models_dir: Path) -> Iterator[Engine]:
    engine = make_engine(store_url)
    upgrade(engine)
    store = RegistryStore(engine)
    import_directory(store, models_dir, {})
    operator = StoreAdmin(engine, "ops")
    key = operator.create_key("ann", "default", "read")["key"]
    operator.share("default", "ann", "read")
    admin = AdminHandler(store, None, 1 << 20)
    with pytest.raises(ServiceError):
        admin.authenticate("Bearer plk_00aa_nope", "10.0.0.9", None, "promote", "iris")
    ann = admin.authenticate(f"Bearer {key}", "10.0.0.7", None, "show", "iris")
    admin.index(ann, "iris")
    with pytest.raises(ServiceError, match="needs the change role"):
        admin.promote(ann, "iris", "2")
    yield engine
    engine.dispose()


def rows(engine: Engine, filters: Filters) -> list[tuple[object, ...]]:
    frame = queries.audit(engine, filters)
    return [
        (r.user, r.action, r.model, r.version, r.status, r.client)
        for r in frame.astype(object).where(frame.notna(), None).itertuples()
    ]


def test_the_audit_newest_first_and_filtered(audited: Engine) -> None:
    assert rows(audited, Filters()) == EXPECTED
    frame = queries.audit(audited, Filters())
    assert list(frame.columns) == list(queries.registry.AUDIT_COLUMNS)
    refused = frame[frame["status"] == 403].iloc[0]
    assert refused["detail"] == (
        "promoting a version needs the change role on group 'default' (yours: read)"
    )
    assert refused["group"] == "default"
    assert frame["at"].is_monotonic_decreasing
    assert str(frame["at"].dt.tz) == "UTC"
    assert rows(audited, Filters(model="iris")) == EXPECTED[:3]
    assert rows(audited, Filters(model="iris", version="2")) == [EXPECTED[0], *EXPECTED[1:3]]
    assert rows(audited, Filters(model="nosuch")) == []
    assert len(queries.audit(audited, Filters(), limit=2)) == 2


def test_a_store_from_before_the_audit(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine, "0004")
    frame = queries.audit(engine, Filters())
    engine.dispose()
    assert frame.empty
    assert list(frame.columns) == list(queries.registry.AUDIT_COLUMNS)


def test_the_models_page_shows_the_audit(
    audited: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = start(store_url, monkeypatch)
    at.switch_page("views/models.py").run()
    assert not at.exception
    *_, table = [d.value for d in at.dataframe if "Outcome" in d.value.columns]  # the section
    assert table["Who"].tolist() == ["ann", "ann", "(no valid key)", "ops", "ops"]
    assert table["Outcome"].tolist() == [
        "403 refused", "200 allowed", "401 refused", "200 allowed", "201 allowed",
    ]  # fmt: skip
    assert table["From"].tolist()[:3] == ["10.0.0.7", "10.0.0.7", "10.0.0.9"]
    assert table["On"].tolist() == ["iris/2", "iris", "iris", "group default", "group default"]
    assert "needs the change role" in table["Detail"].iloc[0]
    assert table["Key"].iloc[0]  # the key's id, never the key
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Calls shown"], shown["Refused"]) == ("5", "2")
    mine = next(e for e in at.expander if e.label == "iris: admin calls (3)")
    assert mine.dataframe[0].value["Call"].tolist() == ["promote", "show", "promote"]
