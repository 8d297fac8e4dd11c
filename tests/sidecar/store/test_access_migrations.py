"""The access-control migrations both ways, on SQLite and PostgreSQL: 0005 (groups, members,
keys, models' groups, the audit) from 0004 and back, and 0009 (a group's predict key)."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Engine, inspect, text

from sidecar.store.engine import make_engine
from sidecar.store.migrate import alembic_config, current_revision, head_revision, upgrade

ACCESS_TABLES = {"access_groups", "group_members", "api_keys", "model_groups", "admin_audit"}
AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def model_groups(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        found = conn.execute(text("SELECT model, group_name FROM model_groups ORDER BY model"))
        return [(m, g) for m, g in found]


def test_0005_up_down_up(store_url: str) -> None:
    engine = make_engine(store_url)
    upgrade(engine, "0004")
    with engine.begin() as conn:  # two models registered before groups existed
        for model in ("iris", "churn"):
            conn.execute(
                text(
                    "INSERT INTO model_versions (model, version, state, weight, shadow_fraction,"
                    " manifest, created_at, created_by, updated_at) VALUES (:model, '1',"
                    " 'serving', 1.0, 0.0, '{}', :at, 'alice', :at)"
                ),
                {"model": model, "at": AT},
            )
    assert not ACCESS_TABLES & tables(engine)

    upgrade(engine, "0005")
    assert tables(engine) >= ACCESS_TABLES
    assert model_groups(engine) == [("churn", "default"), ("iris", "default")]
    with engine.begin() as conn:  # what the access control writes at 0005
        conn.execute(
            text(
                "INSERT INTO access_groups (name, created_at, created_by) "
                "VALUES ('fraud', :at, 'ops')"
            ),
            {"at": AT},
        )
        conn.execute(
            text(
                "INSERT INTO group_members (group_name, user_name, role, added_at, added_by) "
                "VALUES ('fraud', 'alice', 'manage', :at, 'ops')"
            ),
            {"at": AT},
        )
        conn.execute(
            text(
                "INSERT INTO api_keys (key_id, key_hash, user_name, group_name, created_at,"
                " created_by) VALUES ('0a1b2c', :hash, 'alice', 'fraud', :at, 'ops')"
            ),
            {"hash": "0" * 64, "at": AT},
        )
        conn.execute(
            text(
                "INSERT INTO admin_audit (at, user_name, key_id, client, action, model, status)"
                " VALUES (:at, 'alice', '0a1b2c', '10.0.0.1', 'promote', 'iris', 200)"
            ),
            {"at": AT},
        )

    downgrade(engine, "0004")
    assert current_revision(engine) == "0004"
    assert not ACCESS_TABLES & tables(engine)
    with engine.connect() as conn:  # the registry itself is untouched
        kept = conn.execute(text("SELECT model, created_by FROM model_versions ORDER BY model"))
        assert kept.all() == [("churn", "alice"), ("iris", "alice")]

    upgrade(engine, "0005")  # again: the models go to the default group again
    assert model_groups(engine) == [("churn", "default"), ("iris", "default")]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM access_groups")).scalars().all() == ["default"]
        assert conn.execute(text("SELECT count(*) FROM api_keys")).scalar_one() == 0
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_0009_up_down_up(store_url: str) -> None:
    engine = make_engine(store_url)
    upgrade(engine, "0009")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO access_groups (name, created_at, created_by, predict_needs_key) "
                "VALUES ('fraud', :at, 'ops', :closed)"
            ),
            {"at": AT, "closed": True},
        )
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, predict_needs_key FROM access_groups ORDER BY name"))
        assert [(name, bool(closed)) for name, closed in rows] == [
            ("default", False),
            ("fraud", True),
        ]
    downgrade(engine, "0008")
    columns = {c["name"] for c in inspect(engine).get_columns("access_groups")}
    assert "predict_needs_key" not in columns
    with engine.connect() as conn:  # the groups stay, open
        names = conn.execute(text("SELECT name FROM access_groups ORDER BY name")).scalars()
        assert names.all() == ["default", "fraud"]
    upgrade(engine, "0009")
    with engine.connect() as conn:
        closed = conn.execute(text("SELECT predict_needs_key FROM access_groups")).scalars()
        assert not any(closed)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()
