"""Migration 0007 (feedback and its quality rollups) up and down on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect

from sidecar.store.engine import make_engine
from sidecar.store.migrate import alembic_config, current_revision, upgrade
from sidecar.store.schema import feedback, metadata, quality_rollups, quality_rollups_hourly

TABLES = {"feedback", "quality_rollups", "quality_rollups_hourly"}


def test_0007_creates_the_feedback_tables_as_the_models_say_and_drops_them(store_url: str) -> None:
    engine = make_engine(store_url)
    upgrade(engine, "0007")
    assert set(inspect(engine).get_table_names()) >= TABLES
    ours = MetaData()
    for table in (feedback, quality_rollups, quality_rollups_hourly):
        table.to_metadata(ours)

    def only_ours(name: str | None, kind: str, parents: dict[str, str | None]) -> bool:
        if kind == "schema":
            return True
        table = name if kind == "table" else parents.get("table_name")
        return table in TABLES

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": only_ours})
        assert compare_metadata(context, ours) == []
    indexes = {i["name"] for i in inspect(engine).get_indexes("feedback")}
    assert "ix_feedback_unmatched" in indexes
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
    assert current_revision(engine) == "0006"
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine, "0007")
    assert current_revision(engine) == "0007"
    assert metadata.tables["feedback"] is feedback
    engine.dispose()
