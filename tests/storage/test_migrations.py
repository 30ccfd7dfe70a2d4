"""storage/migrations: from an empty database to the models and back, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from storage import migrate
from storage.db import Database
from storage.models import Base


def _script_head(db: Database) -> str:
    head = ScriptDirectory.from_config(migrate.alembic_config(db.engine)).get_current_head()
    assert head is not None
    return head


def test_upgrade_from_empty_matches_the_models(empty_db: Database) -> None:
    assert inspect(empty_db.engine).get_table_names() == []
    migrate.upgrade(empty_db.engine)
    migrate.upgrade(empty_db.engine)  # a second run is a no-op, not an error

    with empty_db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert context.get_current_revision() == _script_head(empty_db)
        assert compare_metadata(context, Base.metadata) == []
    tables = set(inspect(empty_db.engine).get_table_names())
    assert tables == {*Base.metadata.tables, "alembic_version"}


def test_open_booking_index_is_partial_and_unique_after_migration(empty_db: Database) -> None:
    migrate.upgrade(empty_db.engine)
    indexes = {ix["name"]: ix for ix in inspect(empty_db.engine).get_indexes("home_visit_bookings")}
    index = indexes["uq_home_visit_bookings_open"]
    assert index["unique"]
    assert index["column_names"] == ["phone", "service"]
    where = str(index.get("dialect_options", {}).get(f"{empty_db.engine.dialect.name}_where"))
    assert "requested" in where and "scheduled" in where


def test_downgrade_to_base_and_back(empty_db: Database) -> None:
    migrate.upgrade(empty_db.engine)
    with empty_db.engine.begin() as conn:
        cfg = migrate.alembic_config(empty_db.engine)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert inspect(empty_db.engine).get_table_names() == ["alembic_version"]
    migrate.upgrade(empty_db.engine)
    with empty_db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
