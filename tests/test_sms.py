"""POST /sms/delivery and POST /sms/inbound (SPEC §4, §6, §10), on both configurations.

Delivery reports in every order, twice, and before the send call returned; inbound keywords with
typos, whole journeys by SMS replies alone, the loop guard, and opt-outs honoured at send time.
Replies are asserted exactly, as the resident reads them, and as the outbox rows they are.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from babel.dates import format_date
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from common.local_time import LOCAL_TZ, local_today
from flows import SMS_SCREEN_LIMIT, build_engine
from flows.flow import build_flow, read_flow_data
from storage import numbers, outbox, queries
from storage.db import Database
from storage.models import (
    DeliveryReport,
    HomeVisitBooking,
    InboundMessage,
    OutboxMessage,
    ReminderSubscription,
    Resident,
    utcnow,
)
from workers.providers import DeliveryReport as ParsedReport
from workers.providers import InboundSms, SendResult
from workers.providers.africastalking import parse_delivery_report, parse_inbound
from workers.sender import OutboxSender

TEMBOK = "51.08.09.2010"
ME = "+6281299990001"
NEIGHBOUR = "+6281299990002"
STRANGER = "+6281299990003"

MAIN_ID = (
    "Adminduk Buleleng\n1 Cek status dokumen\n2 Minta petugas ke rumah\n"
    "3 Jadwal petugas ke desa\n4 Layanan prioritas\n5 Bahasa/Language"
)
WRONG = "Pilihan salah.\n"
HELP_ID = (
    "Adminduk Buleleng. Balas: JADWAL nama desa, STATUS nomor, RUMAH (minta petugas), "
    "MENU, STOP (berhenti info). Atau telepon *123#."
)
HELP_EN = (
    "Adminduk Buleleng. Reply: JADWAL village, STATUS number, RUMAH (home visit), MENU, "
    "STOP (no more info). Or dial *123#."
)
STOPPED = "Anda tidak menerima info jadwal lagi. Balas MULAI untuk menerima lagi."
STARTED = "Anda menerima info jadwal lagi. Balas STOP untuk berhenti."

MY_KTP = numbers.with_check_digit("2000001")
NEIGHBOURS_KK = numbers.with_check_digit("2000002")
UNKNOWN = numbers.with_check_digit("2000003")


def id_date(day: dt.date) -> str:
    return format_date(day, format="EEEE, d MMM y", locale="id")


def en_date(day: dt.date) -> str:
    return format_date(day, format="EEEE d MMM y", locale="en")


def as_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones."""
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


@pytest.fixture
def db(app: Flask) -> Database:
    return app.extensions["gateway"].db  # type: ignore[no-any-return]


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


VISIT_DAYS = 5


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


def count(db: Database, model: type[Any], **where: Any) -> int:
    with db.begin() as session:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return int(session.scalar(query) or 0)


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


# --- delivery reports ------------------------------------------------------------------------


def report(
    client: FlaskClient, message_id: str, status: str, failure_reason: str = "", **overrides: str
) -> tuple[int, str]:
    form = {
        "id": message_id,
        "status": status,
        "phoneNumber": ME,
        "networkCode": "51010",
        "failureReason": failure_reason,
        "retryCount": "0",
        **overrides,
    }
    response = client.post("/sms/delivery", data=form)
    return response.status_code, response.get_data(as_text=True)


def owed(db: Database, key: str = "test:1", kind: str = "notification") -> int:
    """An SMS the product owes ME, still queued."""
    with db.begin() as session:
        outbox.add(session, recipient=ME, kind=kind, body="Halo dari Adminduk.", dedupe_key=key)
        message_id = session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key))
        assert message_id is not None
        return message_id


def sent(db: Database, provider_id: str = "ATXid_1") -> int:
    """An SMS the provider accepted with ``provider_id``."""
    message_id = owed(db)
    with db.begin() as session:
        outbox.mark_sent(session, message_id, provider_id, utcnow())
    return message_id


def state(db: Database, message_id: int) -> tuple[str, str | None, str | None, bool, bool]:
    """status, provider_status, last_error, delivered_at set?, failed_at set?"""
    with db.begin() as session:
        m = session.get(OutboxMessage, message_id)
        assert m is not None
        return (
            m.status,
            m.provider_status,
            m.last_error,
            m.delivered_at is not None,
            m.failed_at is not None,
        )


def stored_reports(db: Database) -> list[tuple[str, str, str | None, str | None, bool]]:
    with db.begin() as session:
        return [
            (r.provider_message_id, r.status, r.failure_reason, r.phone, r.applied)
            for r in session.scalars(select(DeliveryReport).order_by(DeliveryReport.id))
        ]


def test_success_after_sent_is_delivered(client: FlaskClient, db: Database) -> None:
    message = sent(db)
    assert state(db, message) == ("sent", None, None, False, False)
    assert report(client, "ATXid_1", "Sent") == (200, "applied\n")
    assert state(db, message) == ("sent", "Sent", None, False, False)
    assert report(client, "ATXid_1", "Buffered") == (200, "applied\n")
    assert state(db, message) == ("sent", "Buffered", None, False, False)
    assert report(client, "ATXid_1", "Success") == (200, "applied\n")
    assert state(db, message) == ("delivered", "Success", None, True, False)
    assert stored_reports(db) == [
        ("ATXid_1", "Sent", None, ME, True),
        ("ATXid_1", "Buffered", None, ME, True),
        ("ATXid_1", "Success", None, ME, True),
    ]


def test_an_interim_report_after_success_changes_nothing(client: FlaskClient, db: Database) -> None:
    message = sent(db)
    assert report(client, "ATXid_1", "Success") == (200, "applied\n")
    with db.begin() as session:
        m = session.get(OutboxMessage, message)
        assert m is not None
        delivered_at = m.delivered_at
    for late in ("Sent", "Submitted", "Buffered"):
        assert report(client, "ATXid_1", late) == (200, "applied\n")
    # A late final failure does not undo the delivery either.
    assert report(client, "ATXid_1", "Failed", "DeliveryFailure") == (200, "applied\n")
    assert state(db, message) == ("delivered", "Success", None, True, False)
    with db.begin() as session:
        m = session.get(OutboxMessage, message)
        assert m is not None and m.delivered_at == delivered_at


@pytest.mark.parametrize(
    ("status", "reason", "error"),
    [
        ("Failed", "DeliveryFailure", "Failed: DeliveryFailure"),
        ("Rejected", "UserInBlackList", "Rejected: UserInBlackList"),
        ("AbsentSubscriber", "", "AbsentSubscriber: no reason given"),
        ("Expired", "", "Expired: no reason given"),
    ],
)
def test_a_final_failure_report_fails_the_message(
    client: FlaskClient, db: Database, status: str, reason: str, error: str
) -> None:
    message = sent(db)
    assert report(client, "ATXid_1", "Sent") == (200, "applied\n")
    assert report(client, "ATXid_1", status, reason) == (200, "applied\n")
    assert state(db, message) == ("failed", status, error, False, True)
    # ... and a late Success does not resurrect it.
    assert report(client, "ATXid_1", "Success") == (200, "applied\n")
    assert state(db, message) == ("failed", status, error, False, True)


def test_the_same_report_twice_is_a_duplicate(client: FlaskClient, db: Database) -> None:
    message = sent(db)
    assert report(client, "ATXid_1", "Failed", "DeliveryFailure") == (200, "applied\n")
    with db.begin() as session:
        m = session.get(OutboxMessage, message)
        assert m is not None
        failed_at = m.failed_at
    assert report(client, "ATXid_1", "Failed", "UserIsInactive", retryCount="1") == (
        200,
        "duplicate\n",
    )
    assert state(db, message) == ("failed", "Failed", "Failed: DeliveryFailure", False, True)
    with db.begin() as session:
        m = session.get(OutboxMessage, message)
        assert m is not None and m.failed_at == failed_at
    assert stored_reports(db) == [("ATXid_1", "Failed", "DeliveryFailure", ME, True)]


def test_a_report_before_the_send_returned_is_applied_by_the_sender(
    client: FlaskClient, app: Flask, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = owed(db)
    # The provider's callback beats the reply of our own send call.
    assert report(client, "ATXid_early", "Success") == (200, "pending\n")
    assert report(client, "ATXid_early", "Success") == (200, "duplicate\n")
    assert state(db, message) == ("queued", None, None, False, False)
    assert stored_reports(db) == [("ATXid_early", "Success", None, ME, False)]
    sender, stub = use_stub(app, monkeypatch, "ATXid_early")
    result = sender.send_batch([message])
    assert (result.sent, result.failed, result.provider_ids) == (1, 0, ["ATXid_early"])
    assert stub.calls == [("Halo dari Adminduk.", [ME])]
    assert state(db, message) == ("delivered", "Success", None, True, False)
    assert stored_reports(db) == [("ATXid_early", "Success", None, ME, True)]
    # Later reports for it are known now.
    assert report(client, "ATXid_early", "Sent") == (200, "applied\n")
    assert state(db, message) == ("delivered", "Success", None, True, False)


def test_early_reports_are_applied_in_the_order_they_came(
    client: FlaskClient, db: Database
) -> None:
    message = owed(db)
    assert report(client, "ATXid_7", "Submitted") == (200, "pending\n")
    assert report(client, "ATXid_7", "Rejected", "InsufficientCredit") == (200, "pending\n")
    with db.begin() as session:
        outbox.mark_sent(session, message, "ATXid_7", utcnow())
        assert outbox.apply_pending_reports(session, ["ATXid_7"]) == 2
    assert state(db, message) == ("failed", "Rejected", "Rejected: InsufficientCredit", False, True)
    with db.begin() as session:
        assert outbox.apply_pending_reports(session, ["ATXid_7"]) == 0  # nothing left


def test_a_report_for_an_id_never_sent_stays_pending(client: FlaskClient, db: Database) -> None:
    message = sent(db)
    assert report(client, "ATXid_other", "Success") == (200, "pending\n")
    assert state(db, message) == ("sent", None, None, False, False)
    assert stored_reports(db) == [("ATXid_other", "Success", None, ME, False)]


@pytest.mark.parametrize(
    "form",
    [
        {"status": "Success"},
        {"id": "ATXid_1"},
        {"id": "", "status": "Success"},
        {"id": "ATXid_1", "status": "   "},
        {"id": "x" * 65, "status": "Success"},
        {},
    ],
)
def test_a_malformed_report_is_refused_with_one_line(
    client: FlaskClient, db: Database, form: dict[str, str]
) -> None:
    message = sent(db)
    response = client.post("/sms/delivery", data={"phoneNumber": ME, **form})
    assert response.status_code == 400
    assert response.get_data(as_text=True) == "a delivery report needs id and status\n"
    assert response.mimetype == "text/plain"
    assert stored_reports(db) == []
    assert state(db, message) == ("sent", None, None, False, False)


# --- inbound: one phone texting --------------------------------------------------------------


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


@pytest.fixture
def me(client: FlaskClient, db: Database) -> Texter:
    # The network hands the number over in its local form: stored and answered in E.164.
    return Texter(client, db, ME, sender="0812-9999-0001")


def test_help_in_both_languages(me: Texter, db: Database, client: FlaskClient) -> None:
    assert me.reply("BANTUAN") == HELP_ID
    assert me.reply("help") == HELP_ID  # a newcomer gets the default language
    with db.begin() as session:
        queries.upsert_resident(session, NEIGHBOUR, language="en")
    neighbour = Texter(client, db, NEIGHBOUR)
    assert neighbour.reply("HELP") == HELP_EN
    assert neighbour.reply("Bantuan!") == HELP_EN
    assert neighbour.reply("info") == HELP_EN


@pytest.mark.usefixtures("visit")
@pytest.mark.parametrize(
    "text", ["JADWAL Tembok", "jadwl tembk", "SCHEDULE tembok", "Jadwal  TEMBOK ", "jadwal tembok."]
)
def test_schedule_keyword_with_typos(me: Texter, db: Database, text: str) -> None:
    day = id_date(local_today() + dt.timedelta(days=VISIT_DAYS))
    assert me.reply(text) == (
        f"Adminduk: petugas ke Desa Tembok {day} 09:00-14:00 di Balai "
        "Desa. Bawa KK asli. Balas STOP u/ berhenti."
    )
    with db.begin() as session:
        resident = queries.get_resident(session, ME)
        assert resident is not None and resident.village_code == TEMBOK  # remembered


@pytest.mark.usefixtures("visit")
def test_schedule_in_english_and_for_the_remembered_village(
    client: FlaskClient, db: Database
) -> None:
    with db.begin() as session:
        queries.upsert_resident(session, NEIGHBOUR, village_code=TEMBOK, language="en")
    neighbour = Texter(client, db, NEIGHBOUR)
    day = en_date(local_today() + dt.timedelta(days=VISIT_DAYS))
    text = (
        f"Adminduk: staff visit Tembok {day} 09:00-14:00 at Balai Desa. Bring KK asli. "
        "Reply STOP to stop."
    )
    assert neighbour.reply("SCHEDULE") == text
    assert neighbour.reply("jadwal") == text


def test_schedule_for_a_village_with_no_visit_subscribes(me: Texter, db: Database) -> None:
    assert me.reply("JADWAL Tembok") == (
        "Belum ada jadwal petugas ke Desa Tembok. Kami kabari lewat SMS bila terbit."
    )
    with db.begin() as session:
        sub = session.scalars(select(ReminderSubscription)).one()
        assert (sub.phone, sub.kind, sub.village_code, sub.visit_id, sub.language) == (
            ME,
            "visit_published",
            TEMBOK,
            None,
            "id",
        )


def test_schedule_for_an_unknown_or_ambiguous_village(me: Texter, db: Database) -> None:
    assert me.reply("JADWAL Xyzzy") == (
        'Desa "Xyzzy" tidak dikenal. Contoh: JADWAL Tembok. Atau balas MENU.'
    )
    assert me.reply("JADWAL Kayuputih") == (
        "Ada 2 desa bernama Kayuputih. Balas MENU lalu pilih 3 untuk memilih kecamatan."
    )
    assert count(db, ReminderSubscription) == 0


def test_schedule_without_a_village_asks_for_one(me: Texter) -> None:
    assert me.reply("JADWAL") == (
        "Pilih kecamatan:\n1 Gerokgak\n2 Seririt\n3 Busungbiu\n"
        "4 Banjar\n5 Sukasada\n6 Buleleng\n7 Sawan\n8 Kubutambahan\n"
        "9 Tejakula\n0 Kembali 00 Menu"
    )
    assert me.reply("9").startswith("Pilih desa:\n1 Bondalem\n")
    assert me.reply("10") == (
        "Belum ada jadwal petugas ke Desa Tembok.\n1 Kabari saya lewat SMS"
        "\n2 Desa lain\n0 Kembali 00 Menu"
    )


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("keyword", ["STATUS", "status", "staus", "STATSU", "Cek"])
def test_status_keyword_with_typos(me: Texter, keyword: str) -> None:
    assert me.reply(f"{keyword} {MY_KTP}") == (
        f"KTP-el ..{MY_KTP[-4:]}: Siap diambil, {id_date(local_today())}. "
        "Ambil di Kantor Desa Tembok."
    )


@pytest.mark.usefixtures("seeded")
def test_status_keyword_answers(me: Texter, client: FlaskClient, db: Database) -> None:
    assert (
        me.reply(f"STATUS {MY_KTP[:4]} {MY_KTP[4:]}")
        == (  # spaces are forgiven
            f"KTP-el ..{MY_KTP[-4:]}: Siap diambil, {id_date(local_today())}. "
            "Ambil di Kantor Desa Tembok."
        )
    )
    assert me.reply("STATUS") == "Nomor salah, periksa lagi. Contoh: STATUS 12345678"
    assert me.reply("STATUS 12345678") == "Nomor salah, periksa lagi. Contoh: STATUS 12345678"
    assert me.reply(f"STATUS {UNKNOWN}") == (
        f"Nomor {UNKNOWN} tidak ditemukan. Periksa lagi tanda terima Anda."
    )
    # Another phone's request: nothing about it is told.
    assert me.reply(f"STATUS {NEIGHBOURS_KK}") == (
        "Nomor ini milik HP lain. Untuk cek, telepon *123# atau tanya kantor desa."
    )
    with db.begin() as session:
        queries.upsert_resident(session, NEIGHBOUR, language="en")
    neighbour = Texter(client, db, NEIGHBOUR)
    assert neighbour.reply(f"status {NEIGHBOURS_KK}") == (
        f"Family card ..{NEIGHBOURS_KK[-4:]}: In progress, {en_date(local_today())}."
    )


@pytest.mark.usefixtures("seeded")
def test_status_look_ups_are_guarded(client: FlaskClient, db: Database) -> None:
    stranger = Texter(client, db, STRANGER)
    for i in range(5):
        wrong = numbers.with_check_digit(str(3000000 + i))
        assert stranger.reply(f"STATUS {wrong}").startswith(f"Nomor {wrong} tidak ditemukan.")
    assert stranger.reply(f"STATUS {MY_KTP}") == (
        "Terlalu banyak nomor salah. Coba lagi 1 jam lagi, atau tanya kantor desa."
    )


@pytest.mark.parametrize(
    ("stop", "start"),
    [
        ("STOP", "MULAI"),
        ("BERHENTI", "START"),
        ("brhenti", "mulai"),
        ("stpo", "Start."),
        ("Unsubscribe", "MULAI"),
    ],
)
def test_stop_and_start(me: Texter, db: Database, stop: str, start: str) -> None:
    assert opted_out(db, ME) is None  # never heard of
    assert me.reply(stop) == STOPPED
    assert opted_out(db, ME) is True
    assert me.reply(stop) == STOPPED
    assert opted_out(db, ME) is True
    assert me.reply(start) == STARTED
    assert opted_out(db, ME) is False


def test_stop_in_english(client: FlaskClient, db: Database) -> None:
    with db.begin() as session:
        queries.upsert_resident(session, NEIGHBOUR, village_code=TEMBOK, language="en")
    neighbour = Texter(client, db, NEIGHBOUR)
    assert neighbour.reply("STOP") == (
        "You will get no more schedule messages. Reply MULAI to get them again."
    )
    assert neighbour.reply("START") == "You will get schedule messages again. Reply STOP to stop."
    with db.begin() as session:
        resident = queries.get_resident(session, NEIGHBOUR)
        assert resident is not None
        assert (resident.opted_out, resident.village_code, resident.language) == (
            False,
            TEMBOK,
            "en",
        )  # nothing else changed


def test_words_that_only_look_like_keywords_get_the_menu(me: Texter) -> None:
    for text in ("Terima kasih", "MULA1", "rumahku", "", "   "):  # the loop guard allows 5
        reply = me.reply(text)
        assert reply in (MAIN_ID, WRONG + MAIN_ID), (text, reply)


def test_the_same_inbound_message_twice_gets_one_reply(me: Texter, db: Database) -> None:
    assert me.reply("STOP") == STOPPED
    first = me.last_id
    assert me.send("MULAI", message_id=first) == "duplicate"  # AT retried the callback
    assert me.send("STOP", message_id=first) == "duplicate"
    assert opted_out(db, ME) is True  # the retry did nothing
    assert count(db, OutboxMessage) == 1
    assert count(db, InboundMessage) == 1
    with db.begin() as session:
        inbound = session.scalars(select(InboundMessage)).one()
        assert (inbound.provider_id, inbound.sender, inbound.text) == (first, ME, "STOP")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"text": "STOP", "from": ME}, "an inbound message needs id and from"),
        ({"text": "STOP", "id": "ATXid_x"}, "an inbound message needs id and from"),
        ({"text": "STOP", "id": "ATXid_x", "from": "  "}, "an inbound message needs id and from"),
        ({"text": "STOP", "id": "x" * 65, "from": ME}, "an inbound message needs id and from"),
        ({"text": "STOP", "id": "ATXid_x", "from": "hello"}, "from is not a valid phone number"),
        ({"text": "STOP", "id": "ATXid_x", "from": "12"}, "from is not a valid phone number"),
        (
            {"text": "STOP", "id": "ATXid_x", "from": "+1 202 555 01"},
            "from is not a valid phone number",
        ),
    ],
)
def test_a_malformed_inbound_message_is_refused(
    client: FlaskClient, db: Database, form: dict[str, str], message: str
) -> None:
    response = client.post("/sms/inbound", data=form)
    assert response.status_code == 400
    assert response.get_data(as_text=True) == message + "\n"
    assert count(db, InboundMessage) == 0
    assert count(db, OutboxMessage) == 0
    assert count(db, Resident) == 0


def test_control_characters_are_dropped_and_long_texts_cut(me: Texter, db: Database) -> None:
    assert me.reply("\x00ST\x07OP\x1b") == STOPPED
    assert opted_out(db, ME) is True
    me.reply("halo " + "x" * 600)
    with db.begin() as session:
        texts = list(session.scalars(select(InboundMessage.text).order_by(InboundMessage.id)))
    assert texts == ["STOP", "halo " + "x" * 475]


def test_the_sms_webhooks_need_the_token(app_config: dict[str, Any]) -> None:
    from gateway import create_app

    app = create_app({"TESTING": True, **app_config, "WEBHOOK_TOKEN": "s3cret"})
    try:
        client = app.test_client()
        db = app.extensions["gateway"].db
        inbound = {"from": ME, "to": "98765", "text": "STOP", "id": "ATXid_t1"}
        delivery = {"id": "ATXid_1", "status": "Success", "phoneNumber": ME}
        for path, form in (("/sms/inbound", inbound), ("/sms/delivery", delivery)):
            for query in ("", "?token=wrong", "?token=S3CRET"):
                refused = client.post(path + query, data=form)
                assert refused.status_code == 403
                assert refused.get_data(as_text=True) == "webhook token missing or wrong\n"
        assert count(db, InboundMessage) == 0 and count(db, DeliveryReport) == 0
        assert opted_out(db, ME) is None
        ok = client.post("/sms/inbound?token=s3cret", data=inbound)
        assert (ok.status_code, ok.get_data(as_text=True)) == (200, "ok\n")
        ok = client.post("/sms/delivery", data=delivery, headers={"X-Webhook-Token": "s3cret"})
        assert (ok.status_code, ok.get_data(as_text=True)) == (200, "pending\n")
        assert opted_out(db, ME) is True
    finally:
        app.extensions["gateway"].db.dispose()


# --- whole journeys by SMS replies alone -----------------------------------------------------


@pytest.mark.usefixtures("seeded")
def test_status_journey_by_sms(me: Texter) -> None:
    assert me.reply("halo") == MAIN_ID
    listing = me.reply("1")
    assert listing == (
        f"Dokumen Anda:\n1 KTP-el ..{MY_KTP[-4:]} Siap diambil\n9 Nomor lain\n0 Kembali 00 Menu"
    )
    detail = (
        f"KTP-el ..{MY_KTP[-4:]}\nStatus: Siap diambil\nTgl: {id_date(local_today())}\n"
        "Ambil di: Kantor Desa Tembok\n0 Kembali 00 Menu"
    )
    assert me.reply("1") == detail
    assert me.reply("0") == listing
    assert me.reply("9") == ("Ketik nomor permohonan (8 angka di tanda terima):\n0 Kembali 00 Menu")
    assert me.reply(MY_KTP) == detail
    assert me.reply("00") == MAIN_ID


@pytest.mark.usefixtures("seeded")
def test_status_journey_by_sms_typing_the_number(client: FlaskClient, db: Database) -> None:
    stranger = Texter(client, db, STRANGER)
    assert stranger.reply("Selamat pagi") == MAIN_ID
    ask = "Ketik nomor permohonan (8 angka di tanda terima):\n0 Kembali 00 Menu"
    assert stranger.reply("1") == ask
    assert stranger.reply("12345678") == "Nomor salah, periksa lagi.\n" + ask
    assert stranger.reply(NEIGHBOURS_KK) == (
        "Nomor ini milik HP lain. Ketik tahun lahir pemohon (4 angka):\n0 Kembali 00 Menu"
    )
    assert stranger.reply("1961") == (
        f"Kartu Keluarga ..{NEIGHBOURS_KK[-4:]}\nStatus: Sedang "
        f"diproses\nTgl: {id_date(local_today())}\n"
        "0 Kembali 00 Menu"
    )


def test_home_visit_journey_by_sms(client: FlaskClient, db: Database) -> None:
    stranger = Texter(client, db, STRANGER)
    assert stranger.reply("RUMAH") == (
        "Petugas datang untuk siapa?\n1 Saya sendiri\n2 Anggota keluarga\n0 Kembali 00 Menu"
    )
    assert stranger.reply("1") == (
        "Alasannya?\n1 Sakit\n2 Disabilitas\n3 Lansia\n4 Lainnya\n0 Kembali 00 Menu"
    )
    assert stranger.reply("3") == (
        "Perlu layanan apa?\n1 Rekam KTP-el\n2 Kartu Keluarga\n3 Akta\n4 Lainnya\n0 Kembali 00 Menu"
    )
    assert stranger.reply("1").startswith("Pilih kecamatan:\n1 Gerokgak\n")
    assert stranger.reply("9") == (
        "Pilih desa:\n1 Bondalem\n2 Julah\n3 Les\n4 Madenan\n"
        "5 Pacung\n6 Penuktukan\n7 Sambirenteng\n8 Sembiran\n"
        "9 Tejakula\n10 Tembok\n0 Kembali 00 Menu"
    )
    assert stranger.reply("10") == "Ketik nama banjar/dusun:\n1 Lewati\n0 Kembali 00 Menu"
    assert stranger.reply("1") == (
        "Kirim?\nRekam KTP-el, diri sendiri, Lansia\nDesa Tembok\n"
        "1 Kirim\n2 Ganti desa\n0 Kembali 00 Menu"
    )
    rows = stranger.new_rows("1")
    with db.begin() as session:
        booking = session.scalars(select(HomeVisitBooking)).one()
        assert (
            booking.phone,
            booking.for_whom,
            booking.reason,
            booking.service,
            booking.village_code,
            booking.hamlet,
            booking.status,
        ) == (STRANGER, "self", "elderly", "ktp", TEMBOK, None, "requested")
        number = booking.number
    assert [(r.recipient, r.kind, r.urgent, r.status, r.body) for r in rows] == [
        (
            STRANGER,
            "notification",
            True,
            "queued",
            f"Adminduk Buleleng: permintaan petugas ke rumah diterima. Nomor {number}, "
            "Rekam KTP-el, Desa Tembok. Petugas menelepon untuk jadwal.",
        ),
        (
            STRANGER,
            "reply",
            True,
            "queued",
            f"Diterima. Nomor: {number}. Petugas akan menelepon Anda untuk jadwalnya. "
            "SMS menyusul.",
        ),
    ]
    # The journey ended: the next text starts afresh, and asking again finds the booking.
    assert stranger.reply("1") == MAIN_ID
    for answer in ("2", "1", "3", "1", "1"):  # village remembered now: no picker
        stranger.reply(answer)
    assert stranger.reply("1") == (
        f"Anda sudah minta Rekam KTP-el, nomor {number}, menunggu "
        "jadwal. Petugas akan menghubungi Anda."
    )
    assert count(db, HomeVisitBooking) == 1


@pytest.mark.usefixtures("seeded", "visit")
def test_next_visit_journey_by_sms_with_the_remembered_village(me: Texter, db: Database) -> None:
    visit_day = local_today() + dt.timedelta(days=VISIT_DAYS)
    assert me.reply("halo") == MAIN_ID
    assert me.reply("3") == (
        f"Petugas ke Desa Tembok:\n{id_date(visit_day)}\nJam 09:00-14:00\n"
        "Di Balai Desa\nBawa: KK asli\n1 Ingatkan saya lewat SMS\n"
        "2 Desa lain\n0 Kembali 00 Menu"
    )
    rows = me.new_rows("1")
    assert [(r.kind, r.urgent, as_utc(r.due_at), r.body) for r in rows] == [
        (
            "reminder",
            False,
            dt.datetime.combine(visit_day - dt.timedelta(days=4), dt.time(23), dt.UTC),
            f"Pengingat: petugas Adminduk di Desa Tembok 3 hari lagi, {id_date(visit_day)} "
            "09:00-14:00, di Balai Desa.",
        ),
        (
            "reminder",
            False,
            dt.datetime.combine(visit_day - dt.timedelta(days=2), dt.time(23), dt.UTC),
            f"Pengingat: petugas Adminduk di Desa Tembok besok, {id_date(visit_day)} "
            "09:00-14:00, di Balai Desa.",
        ),
        (
            "reply",
            True,
            as_utc(rows[2].due_at),
            f"Baik. Kami kirim SMS pengingat sebelum {id_date(visit_day)}.",
        ),
    ]
    assert me.check_reply(rows[2])


@pytest.mark.usefixtures("visit")
def test_next_visit_journey_by_sms_for_a_newcomer(client: FlaskClient, db: Database) -> None:
    stranger = Texter(client, db, STRANGER)
    visit_day = id_date(local_today() + dt.timedelta(days=VISIT_DAYS))
    schedule = (
        f"Adminduk: petugas ke Desa Tembok {visit_day} 09:00-14:00 di Balai Desa. "
        "Bawa KK asli. Balas STOP u/ berhenti."
    )
    assert stranger.reply("JADWAL Tembok") == schedule
    # Tembok is remembered now: option 3 goes straight to it.
    assert stranger.reply("hai") == MAIN_ID
    assert stranger.reply("3").startswith(f"Petugas ke Desa Tembok:\n{visit_day}\n")
    assert stranger.reply("2").startswith("Pilih kecamatan:\n")  # another village
    assert stranger.reply("9").startswith("Pilih desa:\n")
    assert stranger.reply("3") == (
        "Belum ada jadwal petugas ke Desa Les.\n1 Kabari saya lewat "
        "SMS\n2 Desa lain\n0 Kembali 00 Menu"
    )
    assert stranger.reply("1") == ("Baik. Anda dikabari lewat SMS saat jadwal ke Desa Les terbit.")
    with db.begin() as session:
        sub = session.scalars(select(ReminderSubscription)).one()
        assert (sub.phone, sub.kind, sub.village_code) == (
            STRANGER,
            "visit_published",
            "51.08.09.2007",
        )


def test_menu_keyword_restarts_a_conversation(me: Texter) -> None:
    me.reply("halo")
    assert me.reply("2").startswith("Petugas datang untuk siapa?")
    assert me.reply("MENU") == MAIN_ID
    assert me.reply("2").startswith("Petugas datang untuk siapa?")
    assert me.reply("RUMAH").startswith("Petugas datang untuk siapa?")
    assert me.reply("2").startswith("Alasannya?")  # a family member


def test_keywords_start_their_journey_wherever_the_menu_puts_it(
    client: FlaskClient, db: Database, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RUMAH and JADWAL start journeys by name: with the main menu reordered (the same
    screens.toml, its first option moved to the end) they still land where they did."""
    rt = app.extensions["gateway"]
    data = read_flow_data()
    options = data["screens"]["main"]["options"]
    options.append(options.pop(0))
    reordered = build_engine(SMS_SCREEN_LIMIT, flow=build_flow(data), catalogs=rt.catalogs)
    monkeypatch.setattr(rt, "sms_engine", reordered)
    stranger = Texter(client, db, STRANGER)
    main = (
        "Adminduk Buleleng\n1 Minta petugas ke rumah\n2 Jadwal petugas ke desa\n"
        "3 Layanan prioritas\n4 Bahasa/Language\n5 Cek status dokumen"
    )
    assert stranger.reply("MENU") == main
    assert stranger.reply("RUMAH") == (
        "Petugas datang untuk siapa?\n1 Saya sendiri\n2 Anggota keluarga\n0 Kembali 00 Menu"
    )
    assert rt.sms_store.load(STRANGER)[0]["state"]["journey"] == "home_visit"
    assert stranger.reply("1").startswith("Alasannya?")
    assert stranger.reply("00") == main
    assert stranger.reply("JADWAL").startswith("Pilih kecamatan:\n1 Gerokgak\n")
    assert rt.sms_store.load(STRANGER)[0]["state"]["journey"] == "next_visit"
    assert stranger.reply("9").startswith("Pilih desa:\n1 Bondalem\n")
    assert stranger.reply("10") == (
        "Belum ada jadwal petugas ke Desa Tembok.\n1 Kabari saya lewat SMS"
        "\n2 Desa lain\n0 Kembali 00 Menu"
    )
    # Two villages of one name: the reply names the journey's digit on this menu.
    assert stranger.reply("JADWAL Kayuputih") == (
        "Ada 2 desa bernama Kayuputih. Balas MENU lalu pilih 2 untuk memilih kecamatan."
    )
    assert stranger.reply("MENU") == main
    assert stranger.reply("2").startswith("Belum ada jadwal petugas ke Desa Tembok.")  # remembered


def test_a_keyword_in_the_middle_of_a_journey_is_answered(me: Texter) -> None:
    me.reply("RUMAH")
    assert me.reply("HELP") == HELP_ID
    assert me.reply("1").startswith("Alasannya?")  # the journey is still where it was


def test_the_language_chosen_by_sms_is_remembered(me: Texter, db: Database) -> None:
    me.reply("halo")
    assert me.reply("5") == (
        "Pilih bahasa / Choose language:\n1 Bahasa Indonesia\n2 English\n0 Kembali 00 Menu"
    )
    main_en = (
        "Adminduk Buleleng\n1 Check document status\n2 Ask for a home visit\n"
        "3 Village visit dates\n4 Priority service\n5 Bahasa/Language"
    )
    assert me.reply("2") == main_en
    assert me.reply("help") == HELP_EN
    with db.begin() as session:
        assert session.scalar(select(Resident.language).where(Resident.phone == ME)) == "en"


def test_a_conversation_lives_thirty_minutes(me: Texter, app: Flask, backend: str) -> None:
    me.reply("halo")
    assert me.reply("2").startswith("Petugas datang untuk siapa?")
    store = app.extensions["gateway"].sms_store
    if backend == "production":
        key = f"sms:call:{ME}"
        assert 1790 <= store.redis.ttl(key) <= 1800
        assert me.reply("1").startswith("Alasannya?")
        assert 1790 <= store.redis.ttl(key) <= 1800  # each answer keeps it another 30 minutes
        store.redis.delete(key)  # as if the 30 minutes had run out
    else:
        start = time.monotonic()
        store.clock = lambda: start + 29 * 60
        assert me.reply("1").startswith("Alasannya?")
        store.clock = lambda: start + 29 * 60 + 30 * 60 + 1
    assert me.reply("1") == MAIN_ID  # the old conversation is gone: a new one starts
    assert me.reply("2").startswith("Petugas datang untuk siapa?")


def test_the_sms_conversation_is_not_the_ussd_session(me: Texter, client: FlaskClient) -> None:
    from tests.conftest import Phone

    me.reply("halo")
    me.reply("2")
    phone = Phone(client, ME)
    assert phone.dial() == "CON " + MAIN_ID
    assert phone.press("4").startswith("CON Layanan prioritas")
    assert me.reply("1").startswith("Alasannya?")  # the SMS conversation went on


# --- the loop guard --------------------------------------------------------------------------


def test_a_looping_sender_stops_getting_replies(client: FlaskClient, db: Database) -> None:
    robot = Texter(client, db, STRANGER)
    assert robot.reply("Pesan Anda diterima") == MAIN_ID
    for _ in range(4):
        assert robot.reply("Pesan Anda diterima") == WRONG + MAIN_ID
    for _ in range(3):
        assert robot.send("Pesan Anda diterima") == "looping"
        assert robot.last_status == 200
    assert count(db, OutboxMessage) == 5
    assert count(db, InboundMessage) == 8  # every text is kept
    # Not even keywords or menu answers get a reply now ...
    assert robot.send("HELP") == "looping"
    assert robot.send("1") == "looping"
    assert count(db, OutboxMessage) == 5
    # ... but STOP is honoured, silently, and so is MULAI.
    assert robot.send("STOP") == "looping"
    assert opted_out(db, STRANGER) is True
    assert robot.send("mulai") == "looping"
    assert opted_out(db, STRANGER) is False
    assert robot.send("BERHENTI") == "looping"
    assert opted_out(db, STRANGER) is True
    assert count(db, OutboxMessage) == 5
    # A repeated callback of a looping number is still just a duplicate.
    assert robot.send("STOP", message_id=robot.last_id) == "duplicate"
    # Another number is not affected.
    other = Texter(client, db, NEIGHBOUR)
    assert other.reply("Pesan Anda diterima") == MAIN_ID
    assert other.reply("HELP") == HELP_ID


def test_the_loop_guard_counts_texts_that_go_nowhere(client: FlaskClient, db: Database) -> None:
    texter = Texter(client, db, STRANGER)
    assert texter.reply("halo") == MAIN_ID  # 1
    assert texter.reply("HELP") == HELP_ID  # 2
    assert texter.reply("MENU") == MAIN_ID  # 3
    assert texter.reply("7") == WRONG + MAIN_ID  # 4
    assert texter.reply("1").startswith("Ketik nomor permohonan")  # goes somewhere: not counted
    assert texter.reply("12345678").startswith("Nomor salah, periksa lagi.\n")  # 5
    assert texter.send("2") == "looping"


def test_a_long_journey_by_sms_is_never_cut_off(client: FlaskClient, db: Database) -> None:
    texter = Texter(client, db, STRANGER)
    replies = [
        texter.reply(text)
        for text in (
            "halo",
            "2",
            "7",
            "1",
            "0",
            "1",
            "1",
            "9",
            "1",
            "9",
            "10",
            "Banjar Kaja",
            "0",
            "1",
        )
    ]
    assert [r.split("\n")[0] for r in replies] == [
        "Adminduk Buleleng",
        "Petugas datang untuk siapa?",
        "Pilihan salah.",
        "Alasannya?",
        "Petugas datang untuk siapa?",
        "Alasannya?",
        "Perlu layanan apa?",
        "Pilihan salah.",
        "Pilih kecamatan:",
        "Pilih desa:",
        "Ketik nama banjar/dusun:",
        "Kirim?",
        "Ketik nama banjar/dusun:",
        "Kirim?",
    ]
    done = texter.new_rows("1")  # the 12th answer that moves on: send
    assert [r.kind for r in done] == ["notification", "reply"]
    assert texter.check_reply(done[1]).startswith("Diterima. Nomor: ")
    assert count(db, HomeVisitBooking) == 1


# --- opt-outs at send time -------------------------------------------------------------------


def test_opt_out_is_honoured_at_send_time(
    app: Flask, runner: Any, client: FlaskClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.begin() as session:
        queries.upsert_resident(session, ME, village_code=TEMBOK, language="id")
        queries.upsert_resident(session, NEIGHBOUR, village_code=TEMBOK, language="id")
        queries.add_request(
            session,
            doc_type="ktp",
            phone=ME,
            birth_year=1950,
            village_code=TEMBOK,
            status="processing",
            number=MY_KTP,
        )
    result = runner.invoke(
        args=[
            "broadcast",
            "--village",
            "Tembok",
            "--text",
            "Kantor Disdukcapil tutup Senin.",
            "--yes",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "2 message(s) queued" in result.stdout
    with db.begin() as session:  # a reminder I asked for earlier
        outbox.add(
            session,
            recipient=ME,
            kind="reminder",
            body="Pengingat: besok.",
            dedupe_key="test:reminder",
        )
    # Then I text STOP, before anything was sent.
    assert Texter(client, db, ME).reply("STOP") == STOPPED
    # Transactional messages still reach me.
    result = runner.invoke(
        args=["requests", "set-status", MY_KTP, "ready", "--pickup", "Kantor Desa Tembok"]
    )
    assert result.exit_code == 0, result.output
    sender, stub = use_stub(app, monkeypatch)
    ids = [m.id for m in outbox_rows(db) if m.status == "queued"]
    batch = sender.send_batch(ids)
    assert (batch.sent, batch.cancelled, batch.failed, batch.postponed) == (3, 2, 0, 0)
    assert stub.calls == [
        ("Kantor Disdukcapil tutup Senin.", [NEIGHBOUR]),
        (STOPPED, [ME]),
        (
            f"Adminduk Buleleng: KTP-el no. {MY_KTP}: Siap diambil. Ambil di Kantor Desa Tembok.",
            [ME],
        ),
    ]
    assert [
        (m.recipient, m.kind, m.status, m.last_error, m.provider_message_id)
        for m in outbox_rows(db)
    ] == [
        (ME, "broadcast", "cancelled", "opted out", None),
        (NEIGHBOUR, "broadcast", "sent", None, "stub-1"),
        (ME, "reminder", "cancelled", "opted out", None),
        (ME, "reply", "sent", None, "stub-2"),
        (ME, "notification", "sent", None, "stub-3"),
    ]
    # MULAI again: broadcasts from now on reach me; the cancelled one stays cancelled.
    assert Texter(client, db, ME).reply("MULAI") == STARTED
    ids = [m.id for m in outbox_rows(db) if m.status == "queued"]
    sender.send_batch([*ids, *(m.id for m in outbox_rows(db) if m.status == "cancelled")])
    assert [m.status for m in outbox_rows(db)] == [
        "cancelled",
        "sent",
        "cancelled",
        "sent",
        "sent",
        "sent",
    ]


@pytest.mark.parametrize("word", ["top", "shop", "step", "sto", "stok", "smart", "stat", "mula"])
def test_near_words_never_opt_anyone_in_or_out(word: str) -> None:
    from flows.keywords import parse

    command = parse(word)
    assert command is None or command.name not in ("stop", "start")


def test_the_same_keyword_again_and_again_is_a_loop(client: FlaskClient, app: Flask) -> None:
    replies = []
    for i in range(8):
        response = client.post(
            "/sms/inbound",
            data={
                "from": "+6281299997777",
                "to": "12345",
                "text": "JADWAL Tembok",
                "id": f"loop-kw-{i}",
                "date": "2026-11-28",
                "linkId": "",
                "networkCode": "51010",
            },
        )
        replies.append(response.get_data(as_text=True).strip())
    # The first is an answer; repeats count towards the guard (5 in 10 minutes).
    assert replies == ["ok"] * 6 + ["looping"] * 2
