"""What several command modules share: parsing an operator's input into one clear ``Error:``
line, the schema check, who the audit log names (``--actor``), and the demo's residents.
Command modules import this module and no other module of the CLI, so none of them can import
another in a circle."""

from __future__ import annotations

import datetime as dt
import getpass
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click
from sqlalchemy import inspect

from common.local_time import LOCAL_TZ
from common.text_checks import has_control_characters
from gateway.console.auth import hash_password
from gateway.phones import to_e164
from gateway.runtime import runtime
from storage.models import User
from storage.regions import Place

# The residents 'demo' loads; 'dial' calls as the first unless told otherwise.
DEMO_PHONES = {
    "grandmother": "+6281200000001",  # Tembok, Indonesian, requests on file
    "english": "+6281200000002",  # Kayuputih (Sukasada), English
    "newcomer": "+6281200000003",  # never called before
}


F = TypeVar("F", bound=Callable[..., Any])
MAX_ACTOR = 56  # the audit log's column holds 60, with "cli:" in front


def os_user() -> str:
    """Who runs this command, as the operating system knows them."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no name for this uid (a container): its number
        return f"uid-{os.getuid()}"


def _actor(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str:
    name = os_user() if value is None else value.strip()
    if not name or len(name) > MAX_ACTOR or has_control_characters(name):
        raise click.BadParameter(
            f"a name of 1 to {MAX_ACTOR} printable characters", param_hint="--actor"
        )
    return f"cli:{name}"


def actor_option(command: F) -> F:
    """``--actor NAME``: who the audit log names for what the command changes, as
    ``cli:NAME``; by default the operating-system user running it (``cli:made``), the way
    the console names the logged-in user. The command gets it as ``actor``."""
    return click.option(
        "--actor",
        "actor",
        metavar="NAME",
        callback=_actor,
        help="Who the audit log names for this change (default: your OS user name).",
    )(command)


def ensure_schema() -> None:
    """Before any command that reads or writes: a fresh install gets the next step to take,
    not a database error."""
    if not inspect(runtime().db.engine).has_table("regions"):
        raise click.ClickException(
            "the database has no tables yet: run 'flask --app gateway db upgrade' first"
        )


def parse_phone(raw: str, hint: str = "--phone") -> str:
    phone = to_e164(raw)
    if phone is None:
        raise click.BadParameter(f"'{raw}' is not a valid phone number", param_hint=hint)
    return phone


def find_village(code_or_name: str) -> Place:
    rt = runtime()
    rt.reload_regions()
    if not rt.regions.villages:
        raise click.ClickException(
            "the region list is empty: run 'flask --app gateway regions import' first"
        )
    try:
        return rt.regions.find_village(code_or_name)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--village") from error


def parse_date(raw: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise click.BadParameter(
            f"'{raw}' is not a date like 2026-12-03", param_hint="--date"
        ) from None


def parse_time(raw: str, hint: str) -> dt.time:
    try:
        return dt.datetime.strptime(raw, "%H:%M").time()
    except ValueError:
        raise click.BadParameter(f"'{raw}' is not a time like 09:00", param_hint=hint) from None


def parse_local_datetime(raw: str, example: str) -> dt.datetime:
    """``--at 'YYYY-MM-DD HH:MM'``, read as WITA; ``example`` is shown when it is not."""
    try:
        return dt.datetime.strptime(raw, "%Y-%m-%d %H:%M").replace(tzinfo=LOCAL_TZ)
    except ValueError:
        raise click.BadParameter(f"'{raw}' is not like {example}", param_hint="--at") from None


def new_user(username: str, password: str, role: str, village_code: str | None) -> User:
    """An active console account, not yet added to a session."""
    return User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        village_code=village_code,
        language="id",
        active=True,
    )
