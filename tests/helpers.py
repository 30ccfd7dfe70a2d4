"""What tests of every area share, as plain names (the fixtures are in conftest.py): where the
servers are, the places and phones the tests use, a feature phone on the test client, the
operator CLI, row counts, and dates as residents read them.

Each area adds its own next to its tests: cli/helpers.py, console/helpers.py, sms/helpers.py,
storage/helpers.py, ussd/helpers.py.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from typing import Any

from babel.dates import format_date
from click.testing import Result
from flask.testing import FlaskClient
from sqlalchemy import func, select

from storage import queries
from storage.db import Database
from storage.models import OutboxMessage

PG_BASE = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# Villages of the official region list (storage/data), by code.
TEMBOK = "51.08.09.2010"  # Tembok, in Tejakula
KAYUPUTIH_BANJAR = "51.08.04.2003"  # two villages are called Kayuputih
KAYUPUTIH_SUKASADA = "51.08.05.2015"

ME = "+6281299990001"  # the phone a test dials or texts from (the ``phone`` fixture's)
NEIGHBOUR = "+6281299990002"


class Phone:
    """A feature phone dialling the service: ``dial()``, then ``press("1")``; each returns the
    screen exactly as the phone would show it (with its CON/END prefix)."""

    def __init__(self, client: FlaskClient, number: str = ME) -> None:
        self.client = client
        self.number = number
        self.session_id = ""
        self.inputs: list[str] = []
        self.last_status = 0
        self.hangups = 0

    def post(self, text: str, session_id: str | None = None) -> str:
        response = self.client.post(
            "/ussd",
            data={
                "sessionId": session_id or self.session_id,
                "serviceCode": "*123#",
                "phoneNumber": self.number,
                "networkCode": "51010",
                "text": text,
            },
        )
        self.last_status = response.status_code
        return response.get_data(as_text=True)

    def dial(self) -> str:
        self.session_id = f"ATUid_{secrets.token_hex(8)}"
        self.inputs = []
        return self.post("")

    def press(self, key: str) -> str:
        self.inputs.append(key)
        return self.post("*".join(self.inputs))


# --- the operator CLI ------------------------------------------------------------------------


def run(runner: Any, *args: str) -> Any:
    """Run an operator CLI command (``flask --app gateway ARGS``) through the test runner."""
    return runner.invoke(args=list(args))


def ok(result: Any) -> str:
    """The command succeeded; its standard output."""
    assert result.exception is None, result.output
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def fails(result: Result, message: str, *, exact: bool = False) -> str:
    """The command failed cleanly: exit code, one ``Error:`` line (never a traceback) holding
    ``message``, or being ``Error: message`` when ``exact``; nothing on standard output."""
    assert result.exit_code != 0
    # click exits via SystemExit for its own errors; anything else escaped as a traceback
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    if exact:
        assert errors == [f"Error: {message}"], result.stderr
    else:
        assert len(errors) == 1, result.stderr
        assert message in errors[0], errors[0]
    assert result.stdout == ""
    return errors[0]


# --- rows, residents -------------------------------------------------------------------------


def count(db: Database, model: type[Any], *where: Any, **equal: Any) -> int:
    """Rows of ``model`` matching the ``where`` clauses and the ``column=value`` pairs."""
    with db.begin() as session:
        query = select(func.count()).select_from(model).where(*where)
        for column, value in equal.items():
            query = query.where(getattr(model, column) == value)
        return int(session.scalar(query) or 0)


def rows(db: Database, *columns: str, since: int = 0) -> list[tuple[Any, ...]]:
    """The outbox, oldest first, as tuples of ``columns`` (due_at in UTC)."""
    with db.begin() as session:
        found = session.scalars(
            select(OutboxMessage).where(OutboxMessage.id > since).order_by(OutboxMessage.id)
        )
        return [
            tuple(as_utc(getattr(m, c)) if c.endswith("_at") else getattr(m, c) for c in columns)
            for m in found
        ]


def resident(
    db: Database,
    phone: str,
    village: str | None = TEMBOK,
    language: str = "id",
    opted_out: bool = False,
) -> None:
    """A resident on file (of Tembok unless told otherwise)."""
    with db.begin() as session:
        queries.upsert_resident(session, phone, village_code=village, language=language)
        stored = queries.get_resident(session, phone)
        assert stored is not None
        stored.opted_out = opted_out


def as_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones."""
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


# --- dates as residents read them ------------------------------------------------------------


def id_date(day: dt.date) -> str:
    return format_date(day, format="EEEE, d MMM y", locale="id")


def short_id(day: dt.date) -> str:
    """A date as the SMS texts shorten it (format.short_date), e.g. "Kam, 3 Des"."""
    return format_date(day, format="EEE, d MMM", locale="id")


def short_en(day: dt.date) -> str:
    return format_date(day, format="EEE d MMM", locale="en")


def en_date(day: dt.date) -> str:
    return format_date(day, format="EEEE d MMM y", locale="en")


def seven_wita(day: dt.date) -> dt.datetime:
    """07:00 WITA (UTC+8) on ``day``, in UTC: 23:00 the day before."""
    return dt.datetime.combine(day - dt.timedelta(days=1), dt.time(23), dt.UTC)
