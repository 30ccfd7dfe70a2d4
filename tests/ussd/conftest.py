"""The requests on file for the /ussd tests (their numbers are in helpers.py)."""

from __future__ import annotations

import pytest

from storage import queries
from storage.db import Database
from tests.helpers import ME, NEIGHBOUR, TEMBOK
from tests.ussd.helpers import MY_KK, MY_KTP, NEIGHBOURS_ACTA


@pytest.fixture
def seeded(db: Database) -> None:
    """Me: a resident of Tembok with two requests. My neighbour: one request."""
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
            phone=ME,
            birth_year=1950,
            village_code=TEMBOK,
            status="processing",
            number=MY_KK,
        )
        queries.add_request(
            session,
            doc_type="birth_cert",
            phone=NEIGHBOUR,
            birth_year=1961,
            village_code=TEMBOK,
            status="submitted",
            number=NEIGHBOURS_ACTA,
        )
