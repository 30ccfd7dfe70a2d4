"""``flask --app gateway db``: create or migrate the schema (Alembic, storage/migrations)."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import inspect

from gateway.cli.common import actor_option
from gateway.runtime import runtime
from gateway.staff_actions import audit
from storage import migrate

db_cli = AppGroup("db", help="Create or migrate the database schema.")


@db_cli.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@actor_option
def db_upgrade(revision: str, actor: str) -> None:
    """Create the schema, or migrate it to the latest revision. Safe to run again."""
    db = runtime().db
    migrate.upgrade(db.engine, revision)
    if inspect(db.engine).has_table("audit_log"):  # (not at an early target revision)
        with db.begin() as session:
            audit(session, actor, "db.upgrade", "database", None, after={"revision": revision})
    click.echo(
        f"database at {runtime().db.engine.url.render_as_string(hide_password=True)} "
        f"is at revision {revision}"
    )


@db_cli.command("revision")
@click.option("-m", "--message", required=True, help="What the migration does.")
def db_revision(message: str) -> None:
    """(Developers) autogenerate a migration from the models; read and correct it after."""
    migrate.revision(runtime().db.engine, message)
