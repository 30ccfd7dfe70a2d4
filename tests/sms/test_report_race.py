"""A delivery report that arrives while the sender's transaction recording its message's id is
still open (issue 14): the report finds no message, that transaction cannot see the report,
and before the fix the message stayed 'sent' for ever. Injected inside that window by a hook
on ``outbox.mark_sent_many`` (the id is written, the transaction not yet committed), on both
configurations. The SMPP receipts' side of it is in tests/workers/smpp/test_outbox.py."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from gateway.runtime import runtime
from storage import outbox
from storage.db import Database
from storage.models import utcnow
from tests.helpers import ME
from tests.sms.helpers import use_stub
from tests.sms.test_delivery_reports import owed, report, state, stored_reports


def inject_in_window(monkeypatch: pytest.MonkeyPatch, hook: Callable[[Session], None]) -> None:
    """Run ``hook`` inside the sender's transaction, right after it wrote the provider's ids."""
    original = outbox.mark_sent_many

    def mark_then_hook(session: Session, sent: Any, now: Any, *args: Any) -> None:
        original(session, sent, now, *args)
        session.flush()
        hook(session)

    monkeypatch.setattr(outbox, "mark_sent_many", mark_then_hook)


def test_a_report_committed_inside_the_window_is_applied_after_the_commit(
    app: Flask, client: FlaskClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = owed(db)
    sender, _stub = use_stub(app, monkeypatch, "ATXid_race")
    answers: list[tuple[int, str]] = []
    posting = threading.Thread(
        target=lambda: answers.append(report(app.test_client(), "ATXid_race", "Success"))
    )
    on_postgresql = db.engine.dialect.name == "postgresql"

    def deliver_now(_session: Session) -> None:
        posting.start()
        if on_postgresql:
            # The callback's transaction commits while ours is open: it cannot see our row.
            posting.join(10)
            assert answers == [(200, "pending\n")]
        # SQLite serialises writers: the callback waits for our commit, then finds the row.

    inject_in_window(monkeypatch, deliver_now)
    result = sender.send_batch([message])
    posting.join(10)
    assert (result.sent, result.provider_ids) == (1, ["ATXid_race"])
    assert answers == [(200, "pending\n" if on_postgresql else "applied\n")]
    assert state(db, message) == ("delivered", "Success", None, True, False)
    assert stored_reports(db) == [("ATXid_race", "Success", None, ME, True)]


def test_a_report_whose_transaction_outlives_the_senders_is_applied_by_the_sweep(
    app: Flask, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The narrowest case: the report is recorded inside the window but commits only after the
    sender's second look. The periodic sweep applies it."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: a report cannot be recorded inside the window")
    message = owed(db)
    sender, _stub = use_stub(app, monkeypatch, "ATXid_late")
    held = db.session()

    def record_uncommitted(_session: Session) -> None:
        held.begin()
        answer = outbox.record_delivery_report(
            held,
            provider_id="ATXid_late",
            status="Success",
            failure_reason=None,
            phone=ME,
            now=utcnow(),
        )
        assert answer == "pending"

    second_look = sender.apply_reports

    def look_then_commit(ids: list[str]) -> None:
        second_look(ids)
        held.commit()
        held.close()

    inject_in_window(monkeypatch, record_uncommitted)
    monkeypatch.setattr(sender, "apply_reports", look_then_commit)
    assert sender.send_batch([message]).sent == 1
    assert state(db, message)[0] == "sent"  # neither side applied it
    assert stored_reports(db) == [("ATXid_late", "Success", None, ME, False)]
    assert runtime(app).worker.sweeper.run().reports_applied == 1
    assert state(db, message) == ("delivered", "Success", None, True, False)
    assert stored_reports(db) == [("ATXid_late", "Success", None, ME, True)]
    assert runtime(app).worker.sweeper.run().reports_applied == 0


def test_the_sweep_applies_a_waiting_report_once_its_message_is_known(
    app: Flask, client: FlaskClient, db: Database
) -> None:
    message = owed(db)
    assert report(client, "ATXid_9", "Failed", "DeliveryFailure") == (200, "pending\n")
    with db.begin() as session:  # the id recorded without a look at waiting reports
        outbox.mark_sent(session, message, "ATXid_9", utcnow())
    assert state(db, message)[0] == "sent"
    report_of_sweep = runtime(app).worker.sweeper.run()
    assert (report_of_sweep.reports_applied, report_of_sweep.reports_dropped) == (1, 0)
    assert state(db, message) == ("failed", "Failed", "Failed: DeliveryFailure", False, True)
