"""The outbox page: failures with their reason, and queuing them again."""

from __future__ import annotations

import re

from sqlalchemy import select

from storage import outbox
from storage.db import Database
from storage.models import OutboxMessage, utcnow
from tests.console.helpers import GRANNY, Browser, audit_log, flashes, outbox_rows, unlabelled


def test_the_outbox_shows_failures_and_retries_them(staff: Browser, db: Database) -> None:
    with db.begin() as session:
        for i in range(3):
            outbox.add(
                session,
                recipient=GRANNY,
                kind="notification",
                body=f"Pesan {i}",
                dedupe_key=f"test:{i}",
            )
        session.flush()
        ids = list(session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))
        for i in ids[:2]:
            outbox.mark_failed(session, i, "InsufficientCredit", utcnow())
    page = staff.get("/staff/outbox?status=failed").text
    assert re.findall(r'name="ids" value="(\d+)"', page) == [str(i) for i in reversed(ids[:2])]
    assert (
        unlabelled(page).count("<td>gagal</td><td></td><td>0</td><td>InsufficientCredit</td>") == 2
    )
    assert "gagal: 2</a>" in page and "antre: 1</a>" in page

    page = staff.follow(staff.post("/staff/outbox/retry", {"ids": [str(ids[0])]}), "/staff/outbox")
    assert flashes(page) == [("ok", "1 pesan masuk antrean lagi.")]
    assert [(m.status, m.attempts) for m in outbox_rows(db)] == [
        ("queued", 0),
        ("failed", 0),
        ("queued", 0),
    ]
    assert audit_log(db) == [
        ("staff", "outbox.retry", "outbox", str(ids[0]), None, {"requeued": 1})
    ]
    page = staff.follow(staff.post("/staff/outbox/retry"), "/staff/outbox")
    assert flashes(page) == [("ok", "1 pesan masuk antrean lagi.")]
    assert [m.status for m in outbox_rows(db)] == ["queued"] * 3
    assert audit_log(db)[-1] == (
        "staff",
        "outbox.retry",
        "outbox",
        "all-failed",
        None,
        {"requeued": 1},
    )
