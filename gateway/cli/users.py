"""``flask --app gateway users``: staff console accounts, above all the first admin (who then
manages the others in the console)."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from gateway.cli.common import actor_option, ensure_schema, find_village, new_user
from gateway.passwords import TOO_SHORT, password_problem
from gateway.runtime import runtime
from gateway.staff_actions import audit
from storage.models import User

users_cli = AppGroup("users", help="Staff console accounts.")


@users_cli.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(("admin", "staff", "village_officer")))
@click.option("--village", help="The officer's village (code or name); village officers only.")
@click.option(
    "--password",
    envvar="GATEWAY_NEW_PASSWORD",
    help="At least 12 characters, not a common one. Default: asked for (or GATEWAY_NEW_PASSWORD).",
)
@actor_option
def users_create(
    username: str, role: str, village: str | None, password: str | None, actor: str
) -> None:
    """Create a console account (the first admin, for instance)."""
    ensure_schema()
    if role == "village_officer" and not village:
        raise click.BadParameter("a village officer needs --village", param_hint="--village")
    code = find_village(village).code if role == "village_officer" and village else None
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password, username)
    if problem == TOO_SHORT:
        raise click.BadParameter("at least 12 characters", param_hint="--password")
    if problem:
        raise click.BadParameter("a password that guessers try first", param_hint="--password")
    with runtime().db.begin() as session:
        if session.scalar(select(User.id).where(User.username == username)):
            raise click.ClickException(f"user '{username}' already exists")
        session.add(new_user(username, password, role, code))
        audit(
            session,
            actor,
            "user.create",
            "user",
            username,
            after={"role": role, "village_code": code},
        )
    click.echo(f"user {username} ({role}) created")
