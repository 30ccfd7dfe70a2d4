"""Fixtures of the /sms tests, which run on both configurations: my requests and my neighbour's,
a visit to Tembok, and ``me`` texting from my phone."""

from __future__ import annotations

import datetime as dt

import pytest
from flask.testing import FlaskClient

from common.local_time import local_today
from storage import queries
from storage.db import Database
from tests.helpers import ME, NEIGHBOUR, TEMBOK
from tests.sms.helpers import MY_KTP, NEIGHBOURS_KK, VISIT_DAYS, Texter


@pytest.fixture
def seeded(db: Database) -> None:
    """Me: a resident of Tembok with a document ready. My neighbour: a request of theirs."""
    with db.begin() as session:
        queries.upsert_resident(session, ME, village_code=TEMBOK, language="id")
        queries.add_request(
            session,
            doc_type="ktp",
            phone=ME,
            birth_year=1950,
            village_code=TEMBOK,
            status="ready",
            number=MY_KTP,
            pickup_place="Kantor Desa Tembok",
        )
        queries.add_request(
            session,
            doc_type="kk",
            phone=NEIGHBOUR,
            birth_year=1961,
            village_code=TEMBOK,
            status="processing",
            number=NEIGHBOURS_KK,
        )


@pytest.fixture
def visit(db: Database) -> int:
    """A published visit to Tembok in five days."""
    with db.begin() as session:
        return queries.add_visit(
            session,
            village_code=TEMBOK,
            visit_date=local_today() + dt.timedelta(days=VISIT_DAYS),
            start_time=dt.time(9),
            end_time=dt.time(14),
            place="Balai Desa",
            bring="KK asli",
        ).id


@pytest.fixture
def me(client: FlaskClient, db: Database) -> Texter:
    # The network hands the number over in its local form: stored and answered in E.164.
    return Texter(client, db, ME, sender="0812-9999-0001")
