"""``flask --app gateway db``: create or migrate the schema (Alembic, storage/migrations)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from gateway.runtime import runtime
from storage import migrate

db_cli = AppGroup("db", help="Create or migrate the database schema.")


@db_cli.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Create the schema, or migrate it to the latest revision. Safe to run again."""
    migrate.upgrade(runtime().db.engine, revision)
    click.echo(
        f"database at {runtime().db.engine.url.render_as_string(hide_password=True)} "
        f"is at revision {revision}"
    )


@db_cli.command("revision")
@click.option("-m", "--message", required=True, help="What the migration does.")
def db_revision(message: str) -> None:
    """(Developers) autogenerate a migration from the models; read and correct it after."""
    migrate.revision(runtime().db.engine, message)
