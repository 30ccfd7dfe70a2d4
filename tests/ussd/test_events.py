"""POST /ussd/events (the provider's end-of-session notifications, into the session log) and
GET /healthz."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.runtime import runtime
from storage.db import Database
from storage.models import UssdSessionLog
from tests.helpers import ME, Phone
from tests.ussd.helpers import GOOD


def _logs(db: Database) -> list[UssdSessionLog]:
    with db.begin() as session:
        return list(session.scalars(select(UssdSessionLog).order_by(UssdSessionLog.id)))


def test_events_record_a_session_log_row(client: FlaskClient, phone: Phone, db: Database) -> None:
    phone.dial()
    phone.press("2")
    event = {
        "sessionId": phone.session_id,
        "phoneNumber": "081299990001",
        "serviceCode": "*123#",
        "networkCode": "51010",
        "status": "Success",
        "hopsCount": "2",
        "durationInMillis": "5000",
        "cost": "KES 0.00",
    }
    for _ in range(2):  # a repeated notification updates the same row
        response = client.post("/ussd/events", data=event)
        assert (response.status_code, response.get_data(as_text=True)) == (200, "OK")
    [row] = _logs(db)
    assert (
        row.session_id,
        row.phone,
        row.service_code,
        row.network_code,
        row.journey,
        row.hops,
        row.outcome,
        row.provider_status,
    ) == (phone.session_id, ME, "*123#", "51010", "home_visit", 2, "completed", "Success")
    assert row.ended_at is not None


def test_events_for_an_unknown_session(client: FlaskClient, db: Database) -> None:
    response = client.post(
        "/ussd/events",
        data={
            "sessionId": "ATUid_gone",
            "phoneNumber": ME,
            "status": "Incomplete",
            "hopsCount": "",
        },
    )
    assert response.status_code == 200
    [row] = _logs(db)
    assert (row.session_id, row.phone, row.outcome, row.provider_status, row.hops) == (
        "ATUid_gone",
        ME,
        "dropped",
        "Incomplete",
        0,
    )


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"sessionId": "x"},
        {"phoneNumber": ME},
        {"sessionId": "x", "phoneNumber": "12"},
        {"sessionId": "x" * 129, "phoneNumber": ME},
    ],
)
def test_events_reject_malformed_notifications(
    client: FlaskClient, db: Database, form: dict[str, str]
) -> None:
    response = client.post("/ussd/events", data=form)
    assert response.status_code == 400
    assert response.get_data(as_text=True) == ("sessionId and a valid phoneNumber are required\n")
    assert _logs(db) == []


def test_a_nul_in_a_session_id_is_refused_and_poisons_nothing(
    app: Flask, client: FlaskClient, db: Database
) -> None:
    """PostgreSQL refuses NUL in text: a bad callback is refused at the door (400), and the
    session log of everyone else is written."""
    for session_id, number in (("bad\x00id", ME), ("good", "+6281299990002")):
        first = client.post("/ussd", data={**GOOD, "sessionId": session_id, "phoneNumber": number})
        assert first.status_code == (400 if "\x00" in session_id else 200)
        client.post(
            "/ussd", data={**GOOD, "sessionId": session_id + "-next", "phoneNumber": number}
        )  # the first is dropped → queued
    refused = client.post("/ussd", data={**GOOD, "serviceCode": "*1\x0023#"})
    assert (refused.status_code, refused.get_data(as_text=True)) == (
        400,
        "serviceCode holds a control character\n",
    )
    assert runtime(app).session_log.flush(force=True) == 1
    assert [row.session_id for row in _logs(db)] == ["good"]
    response = client.post(
        "/ussd/events", data={"sessionId": "ev\x00", "phoneNumber": ME, "status": "Success"}
    )
    assert (response.status_code, response.get_data(as_text=True)) == (
        400,
        "sessionId holds a control character\n",
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"hopsCount": "99999999999"}, "hopsCount must be a whole number from 0 to 10000\n"),
        ({"hopsCount": "-1"}, "hopsCount must be a whole number from 0 to 10000\n"),
        ({"hopsCount": "x"}, "hopsCount must be a whole number from 0 to 10000\n"),
        ({"hopsCount": "1" * 5000}, "hopsCount must be a whole number from 0 to 10000\n"),
        (
            {"durationInMillis": "1e9"},
            "durationInMillis must be a whole number from 0 to 86400000\n",
        ),
        ({"status": "S" * 17}, "status is too long\n"),
        ({"status": "Succ\x00ess"}, "status holds a control character\n"),
        ({"cost": "\x07"}, "cost holds a control character\n"),
    ],
)
def test_events_refuse_what_they_cannot_record(
    client: FlaskClient, db: Database, changes: dict[str, str], reason: str
) -> None:
    """Refused with the reason, not recorded -- rather than a 200 that dropped the record (an
    out-of-range hopsCount overflowed the column: answered 200, nothing kept)."""
    event = {"sessionId": "ATUid_1", "phoneNumber": ME, "status": "Success", **changes}
    response = client.post("/ussd/events", data=event)
    assert (response.status_code, response.get_data(as_text=True)) == (400, reason)
    assert _logs(db) == []


def test_events_keep_the_gateways_multiline_fields(client: FlaskClient, db: Database) -> None:
    """Africa's Talking echoes our last screen (lastAppResponse), line breaks and all."""
    event = {
        "sessionId": "ATUid_2",
        "phoneNumber": ME,
        "status": "Failed",
        "hopsCount": "10000",
        "durationInMillis": "0",
        "lastAppResponse": "CON Adminduk Buleleng\n1 Cek status\r\n",
        "errorMessage": "timed out\n",
        "input": "1",
    }
    response = client.post("/ussd/events", data=event)
    assert (response.status_code, response.get_data(as_text=True)) == (200, "OK")
    [row] = _logs(db)
    assert (row.hops, row.provider_status) == (10000, "Failed")


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.get_data(as_text=True)) == (200, "ok\n")
