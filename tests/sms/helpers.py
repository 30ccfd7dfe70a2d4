"""What the tests of /sms share: the replies as the resident reads them, the requests on file
(``seeded`` in conftest.py), a phone texting the service (``Texter``), and a stub provider with
a daytime clock for the sender."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Mapping

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from common.local_time import LOCAL_TZ
from storage import numbers
from storage.db import Database
from storage.models import OutboxMessage, Resident
from tests.helpers import ME
from workers.providers import DeliveryReport as ParsedReport
from workers.providers import InboundSms, SendResult
from workers.providers.africastalking import parse_delivery_report, parse_inbound
from workers.sender import OutboxSender

STRANGER = "+6281299990003"

MAIN_ID = (
    "Adminduk Buleleng\n1 Cek status\n2 Minta petugas ke rumah\n"
    "3 Jadwal petugas ke desa\n4 Layanan prioritas\n5 Bahasa/Language\n6 Hubungi kantor"
)
WRONG = "Pilihan salah.\n"
# BANTUAN/HELP: the office (settings OFFICE_*) and "ask staff to call me" (the contact journey)
HELP_ID = (
    "Disdukcapil Kab. Buleleng\nKantor Disdukcapil, Singaraja\nBuka Sen-Jum 08.00-15.00\n"
    "Telp (0362) 000000\n1 Minta ditelepon petugas\n0 Kembali 00 Menu"
)
HELP_EN = (
    "Disdukcapil Kab. Buleleng\nKantor Disdukcapil, Singaraja\nOpen Mon-Fri 08:00-15:00\n"
    "Tel (0362) 000000\n1 Ask staff to call me\n0 Back 00 Menu"
)
STOPPED = "Anda tidak menerima info jadwal lagi. Balas MULAI untuk menerima lagi."
STARTED = "Anda menerima info jadwal lagi. Balas STOP untuk berhenti."

MY_KTP = numbers.with_check_digit("2000001")
NEIGHBOURS_KK = numbers.with_check_digit("2000002")
UNKNOWN = numbers.with_check_digit("2000003")


VISIT_DAYS = 5


def outbox_rows(db: Database) -> list[OutboxMessage]:
    with db.begin() as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        session.expunge_all()
        return rows


def opted_out(db: Database, phone: str) -> bool | None:
    with db.begin() as session:
        return session.scalar(select(Resident.opted_out).where(Resident.phone == phone))


# --- a stub provider, and a sender clock in the daytime --------------------------------------


class StubProvider:
    """Accepts every recipient and hands out the given message ids, in order."""

    name = "stub"

    def __init__(self, ids: Iterator[str] | None = None) -> None:
        self.ids = ids or (f"stub-{i}" for i in itertools.count(1))
        self.calls: list[tuple[str, list[str]]] = []

    def send(self, message: str, recipients: list[str]) -> list[SendResult]:
        self.calls.append((message, list(recipients)))
        return [SendResult(r, "sent", next(self.ids)) for r in recipients]

    def parse_delivery_report(self, form: Mapping[str, str]) -> ParsedReport:
        return parse_delivery_report(form)

    def parse_inbound(self, form: Mapping[str, str]) -> InboundSms:
        return parse_inbound(form)


def daytime() -> dt.datetime:
    """Now, or the next 07:30 WITA when now is in quiet hours: these tests are not about them."""
    now = dt.datetime.now(dt.UTC)
    local = now.astimezone(LOCAL_TZ)
    if dt.time(7) <= local.time() < dt.time(21):
        return now
    day = local.date() + dt.timedelta(days=1 if local.time() >= dt.time(21) else 0)
    return dt.datetime.combine(day, dt.time(7, 30), LOCAL_TZ).astimezone(dt.UTC)


def use_stub(
    app: Flask, monkeypatch: pytest.MonkeyPatch, *ids: str
) -> tuple[OutboxSender, StubProvider]:
    sender: OutboxSender = app.extensions["gateway"].worker.sender
    stub = StubProvider(iter(ids) if ids else None)
    monkeypatch.setattr(sender, "provider", stub)
    monkeypatch.setattr(sender, "clock", daytime)
    return sender, stub


# --- a phone texting the service -------------------------------------------------------------


class Texter:
    """A phone texting the service number: each ``send`` is one AT inbound callback with a new
    message id; ``reply`` also returns the one reply the product wrote to the outbox for it."""

    _ids = itertools.count(1)

    def __init__(
        self, client: FlaskClient, db: Database, number: str = ME, sender: str | None = None
    ) -> None:
        self.client = client
        self.db = db
        self.number = number  # E.164, as stored
        self.sender = sender or number  # as the network gives it
        self.last_id = ""
        self.last_status = 0

    def send(self, text: str, message_id: str | None = None) -> str:
        self.last_id = message_id or f"ATXid_in_{next(self._ids)}"
        response = self.client.post(
            "/sms/inbound",
            data={
                "from": self.sender,
                "to": "98765",
                "text": text,
                "date": "2026-11-28 10:00:00",
                "id": self.last_id,
                "linkId": f"link-{self.last_id}",
                "networkCode": "51010",
            },
        )
        self.last_status = response.status_code
        return response.get_data(as_text=True).removesuffix("\n")

    def new_rows(self, text: str, message_id: str | None = None) -> list[OutboxMessage]:
        """Send, and return the outbox rows written since (for anyone)."""
        with self.db.begin() as session:
            before = session.scalar(select(func.max(OutboxMessage.id))) or 0
        assert self.send(text, message_id) == "ok"
        with self.db.begin() as session:
            rows = list(
                session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.id > before)
                    .order_by(OutboxMessage.id)
                )
            )
            session.expunge_all()
        return rows

    def reply(self, text: str) -> str:
        rows = self.new_rows(text)
        assert len(rows) == 1, [(r.kind, r.body) for r in rows]
        return self.check_reply(rows[0])

    def check_reply(self, row: OutboxMessage) -> str:
        assert (row.recipient, row.kind, row.urgent, row.status) == (
            self.number,
            "reply",
            True,
            "queued",
        )
        assert row.dedupe_key == f"inbound:{self.last_id}:0"
        assert row.segments >= 1
        return row.body
