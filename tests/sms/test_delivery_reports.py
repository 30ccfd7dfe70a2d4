"""POST /sms/delivery (SPEC §4, §10), on both configurations: delivery reports in every order,
twice, and before the send call returned; a malformed one gets a one-line refusal."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.runtime import runtime
from storage import outbox
from storage.db import Database
from storage.models import DeliveryReport, OutboxMessage, utcnow
from tests.helpers import ME
from tests.sms.helpers import use_stub


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


def metric(client: FlaskClient, name: str) -> float:
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_unmatched_reports_are_kept_for_a_while_then_dropped_and_counted(
    app: Flask, client: FlaskClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forged or stray reports (ids no message of ours has) piled up, one row each, forever.
    They are kept DELIVERY_REPORTS_UNMATCHED_MINUTES (60) in case the send call that returns
    their id is still running; then the sweep drops them and /metrics counts them."""
    message = sent(db, "ATXid_real")
    for i in range(3):
        assert report(client, f"ATXid_forged_{i}", "Success") == (200, "pending\n")
    assert report(client, "ATXid_real", "Success") == (200, "applied\n")
    assert metric(client, "gateway_delivery_reports_unmatched") == 3
    assert metric(client, "gateway_delivery_reports_dropped_total") == 0
    sweeper = runtime(app).worker.sweeper
    now = dt.datetime.now(dt.UTC)
    monkeypatch.setattr(sweeper, "clock", lambda: now + dt.timedelta(minutes=59))
    assert sweeper.run().reports_dropped == 0  # the send call may still be returning
    assert len(stored_reports(db)) == 4
    monkeypatch.setattr(sweeper, "clock", lambda: now + dt.timedelta(minutes=61))
    assert sweeper.run().reports_dropped == 3
    assert stored_reports(db) == [("ATXid_real", "Success", None, ME, True)]  # applied: kept
    assert state(db, message)[0] == "delivered"
    assert metric(client, "gateway_delivery_reports_unmatched") == 0
    assert metric(client, "gateway_delivery_reports_dropped_total") == 3
    assert report(client, "ATXid_forged_4", "Failed") == (200, "pending\n")
    monkeypatch.setattr(sweeper, "clock", lambda: dt.datetime.now(dt.UTC))
    assert sweeper.run().reports_dropped == 0  # a new one gets its own while
    assert metric(client, "gateway_delivery_reports_dropped_total") == 3


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
