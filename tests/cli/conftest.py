"""What the CLI tests share: the app's database, and ``fails`` for the one clear ``Error:``
line every bad input must get (never a traceback)."""

from __future__ import annotations

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import func, select

from gateway.runtime import runtime
from storage.db import Database
from storage.models import Base

TEMBOK = "51.08.09.2010"
KAYUPUTIH_SUKASADA = "51.08.05.2015"


@pytest.fixture
def db(app: Flask) -> Database:
    return runtime(app).db


def fails(result: Result, message: str) -> str:
    """The command failed cleanly: exit code, one ``Error:`` line holding ``message``."""
    assert result.exit_code != 0
    # click exits via SystemExit for its own errors; anything else escaped as a traceback
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert message in errors[0], errors[0]
    assert result.stdout == ""
    return errors[0]


def count(db: Database, model: type[Base]) -> int:
    with db.begin() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0
