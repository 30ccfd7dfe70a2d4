"""The outbox page names the provider that sent each message (issue 14: routing)."""

from __future__ import annotations

from sqlalchemy import select

from storage import outbox
from storage.db import Database
from storage.models import OutboxMessage, utcnow
from tests.console.helpers import Browser


def test_each_sent_message_names_its_provider(staff: Browser, db: Database) -> None:
    with db.begin() as session:
        outbox.add(
            session, recipient="+6281377700001", kind="notification", body="A", dedupe_key="p:1"
        )
        outbox.add(
            session, recipient="+6281377700002", kind="notification", body="B", dedupe_key="p:2"
        )
        ids = session.scalars(
            select(OutboxMessage.id).where(OutboxMessage.dedupe_key.like("p:%"))
        ).all()
        outbox.mark_sent_many(session, [(ids[0], "adm-1")], utcnow(), "android")
        outbox.mark_sent_many(session, [(ids[1], "sm-1")], utcnow(), "smpp")
    page = staff.get("/staff/outbox").get_data(as_text=True)
    assert "<th>Dikirim lewat</th>" in page
    assert '<td data-label="Dikirim lewat">android</td>' in page
    assert '<td data-label="Dikirim lewat">smpp</td>' in page
