"""SMPP through the outbox, on both configurations: the worker's sender hands its calls to a bind
(in a thread) on the local SMSC; receipts come before or after the submit_sm_resp — and inside
the window where the worker's transaction recording the message id is still open (issue 14);
a resident's ``JADWAL Tembok`` comes by deliver_sm and is answered by submit_sm."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from common.local_time import local_today
from gateway.runtime import runtime
from gateway.webhooks.sms import receive_sms
from storage import outbox, queries
from storage.db import Database
from storage.models import OutboxMessage
from tests.fake_smsc import FakeSmsc
from tests.helpers import ME, REDIS_URL, TEMBOK
from tests.sms.helpers import daytime
from tests.sms.test_delivery_reports import owed, state, stored_reports
from tests.sms.test_report_race import inject_in_window
from tests.workers.smpp.conftest import PASSWORD, SYSTEM_ID, Starter
from workers.providers import InboundSms
from workers.providers.smpp import SmppProvider
from workers.sender import OutboxSender
from workers.smpp.receipts import record_receipt


def smpp_sender(app: Flask, monkeypatch: pytest.MonkeyPatch) -> OutboxSender:
    sender: OutboxSender = runtime(app).worker.sender
    monkeypatch.setattr(
        sender, "provider", SmppProvider(REDIS_URL, timeout=10, rate=0, recipients_per_call=100)
    )
    monkeypatch.setattr(sender, "clock", daytime)
    return sender


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("receipts", ["before", "after"])
def test_a_receipt_inside_the_window_is_applied(
    receipts: str,
    app: Flask,
    db: Database,
    start_bind: Starter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The SMSC's receipt reaches the bind before its submit_sm_resp, or after it while the
    worker's transaction recording the id is still open (sent from the hook)."""
    message = owed(db)
    sender = smpp_sender(app, monkeypatch)
    on_postgresql = db.engine.dialect.name == "postgresql"
    before = receipts == "before"
    with FakeSmsc(SYSTEM_ID, PASSWORD, receipts="before" if before else None) as smsc:
        running = start_bind(smsc, on_receipt=lambda report: record_receipt(db, report))

        def receipt_now(_session: Session) -> None:
            if not before:
                submitted = smsc.accepted()[0]
                smsc.send_receipt(submitted.message_id, submitted.destination)
            if on_postgresql or before:  # recorded, and committed, while we have not committed
                wait_for(lambda: len(running.receipts) == 1)
                assert running.receipts[0][1] == "pending"
            # SQLite serialises writers: the receipt waits for our commit, then finds the row.

        inject_in_window(monkeypatch, receipt_now)
        result = sender.send_batch([message])
        assert (result.sent, result.provider_ids) == (1, [smsc.accepted()[0].message_id])
        wait_for(lambda: len(running.receipts) == 1 and len(smsc.deliver_resps) == 1)
    assert running.receipts[0][1] == ("pending" if on_postgresql or before else "applied")
    assert smsc.deliver_resps == [0]
    assert state(db, message) == ("delivered", "Success", None, True, False)
    provider_id = result.provider_ids[0]
    assert stored_reports(db) == [(provider_id, "Success", None, None, True)]


def test_a_failed_delivery_fails_the_message_with_its_state(
    app: Flask, db: Database, start_bind: Starter, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = owed(db)
    sender = smpp_sender(app, monkeypatch)
    with FakeSmsc(SYSTEM_ID, PASSWORD, receipts="after", receipt_stat="UNDELIV") as smsc:
        start_bind(smsc, on_receipt=lambda report: record_receipt(db, report))
        assert sender.send_batch([message]).sent == 1
        wait_for(lambda: state(db, message)[0] == "failed")
    assert state(db, message) == ("failed", "Failed", "Failed: UNDELIV", False, True)


def test_a_refused_destination_fails_the_message_and_is_never_retried(
    app: Flask, db: Database, start_bind: Starter, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = owed(db)
    sender = smpp_sender(app, monkeypatch)
    with FakeSmsc(SYSTEM_ID, PASSWORD, decide=lambda _n, _s: 0x0B) as smsc:
        start_bind(smsc)
        report = sender.send_batch([message])
        assert (report.sent, report.failed, report.retry) == (0, 1, 0)
        assert len(smsc.submits) == 1
    status, _, last_error, _, failed = state(db, message)
    assert (status, last_error, failed) == (
        "failed",
        "SMPP 0x0000000B Invalid Destination Address",
        True,
    )


def test_jadwal_tembok_by_deliver_sm_is_answered_by_submit_sm(
    app: Flask, db: Database, start_bind: Starter, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.begin() as session:
        queries.upsert_resident(session, ME, village_code=TEMBOK, language="id")
        queries.add_visit(
            session,
            village_code=TEMBOK,
            visit_date=local_today() + dt.timedelta(days=5),
            start_time=dt.time(9),
            end_time=dt.time(14),
            place="Balai Desa",
            bring="KK asli",
        )
    rt = runtime(app)

    def inbound(message: InboundSms) -> str:
        with app.app_context():
            return receive_sms(rt, message) or "invalid"

    sender = smpp_sender(app, monkeypatch)
    with FakeSmsc(SYSTEM_ID, PASSWORD) as smsc:
        running = start_bind(smsc, on_inbound=inbound)
        smsc.deliver(ME, "JADWAL Tembok")
        wait_for(lambda: len(smsc.deliver_resps) == 1)
        assert smsc.deliver_resps == [0]
        assert [(m.sender, m.text) for m in running.inbound] == [(ME, "JADWAL Tembok")]
        with db.begin() as session:
            [reply] = session.scalars(select(OutboxMessage)).all()
            assert (reply.recipient, reply.kind, reply.status) == (ME, "reply", "queued")
            reply_id, body = reply.id, reply.body
        assert "Tembok" in body and "Balai Desa" in body
        assert sender.send_batch([reply_id]).sent == 1
        assert smsc.texts_to(ME) == [body]
    assert state(db, reply_id)[0] == "sent"
    with db.begin() as session:
        sent_reply = session.get(OutboxMessage, reply_id)
        assert sent_reply is not None and sent_reply.provider == "smpp"
    with db.begin() as session:
        assert outbox.counts_by_status(session).get("sent") == 1
