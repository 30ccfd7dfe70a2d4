"""Call-back requests: one open request per phone, held by the database itself (a request
racing past the look-up writes nothing), on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage import hop
from storage.db import Database
from storage.models import CallbackRequest, OutboxMessage
from storage.queries import callbacks
from tests.helpers import count
from tests.storage.helpers import OTHER_PHONE, PHONE


def _ask(db: Database, phone: str = PHONE) -> bool:
    return hop.request_callback(
        db,
        phone=phone,
        reason="other",
        language="id",
        channel="ussd",
        confirmation_sms=lambda: "Diterima.",
    ).created


def test_one_open_request_per_phone(db: Database) -> None:
    assert _ask(db) is True
    assert _ask(db) is False  # the open one is found: no second row, no second SMS
    assert _ask(db, OTHER_PHONE) is True
    assert (count(db, CallbackRequest), count(db, OutboxMessage)) == (2, 2)
    with db.begin() as session:
        session.scalars(
            select(CallbackRequest).where(CallbackRequest.phone == PHONE)
        ).one().status = "called"
    assert _ask(db) is True  # after it was handled, a new request is a new row
    assert count(db, CallbackRequest, phone=PHONE) == 2


def test_a_request_racing_past_the_look_up_writes_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _ask(db) is True
    # As if the look-up ran before the other request committed: it sees nothing open.
    monkeypatch.setattr(callbacks, "_OPEN", callbacks._OPEN.where(CallbackRequest.id < 0))
    with pytest.raises(RuntimeError, match="neither found nor made"):
        _ask(db)
    assert (count(db, CallbackRequest), count(db, OutboxMessage)) == (1, 1)
