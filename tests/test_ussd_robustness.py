"""POST /ussd under hostile and broken callbacks (SPEC §3, §6, §10): never a 500, never an
empty or over-long screen; bad requests get a one-line 400; retries change nothing; webhook
authentication; an internal failure still answers the phone."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from gateway import create_app
from gateway.runtime import runtime
from gateway.webhooks.ussd import FAILURE_REPLY
from storage import queries
from storage.db import Database
from storage.models import Base, HomeVisitBooking, OutboxMessage, UssdSessionLog
from tests.conftest import Phone

TEMBOK = "51.08.09.2010"
ME = "+6281299990001"
SCREEN_LIMIT = 160


def check_reply(response: TestResponse) -> str:
    """The invariants every answer to the gateway keeps."""
    body = response.get_data(as_text=True)
    assert response.status_code != 500
    assert response.status_code in (200, 400), (response.status_code, body)
    assert response.mimetype == "text/plain"
    if response.status_code == 200:
        assert body.startswith(("CON ", "END ")), body
        assert len(body) <= SCREEN_LIMIT, (len(body), body)
        assert body[4:].strip(), "an empty screen"
    else:
        assert body.endswith("\n") and body.count("\n") == 1, body
        assert 0 < len(body) <= 120
    return body


def count(db: Database, model: type[Base]) -> int:
    with db.begin() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def db(app: Flask) -> Database:
    return runtime(app).db


# --- property: arbitrary and hostile payloads ------------------------------------------------

HOSTILE = [
    "",
    " ",
    "*",
    "**",
    "*" * 300,
    "#",
    "*123#",
    "0",
    "00",
    "98",
    "99",
    "-1",
    "1.5",
    "01",
    "1*",
    "*1",
    "1**2",
    "1*2*3*4*5*6*7*8*9",
    "9" * 40,
    "2*1*1*1*1*1",
    "1" * 8,
    "'; DROP TABLE residents; --",
    "1' OR '1'='1",
    "1); DELETE FROM outbox_messages; --",
    "<script>alert(1)</script>",
    "<b>END</b>",
    "&amp;&lt;",
    "%00",
    "%s%s%s%n",
    "{0}{lang}",
    "{number}",
    "${jndi:ldap://x}",
    "../../etc/passwd",
    "\x00",
    "a\x00b",
    "\r\n",
    "\n\nEND ",
    "CON ",
    "END ",
    "\u202e1\u202d",
    "ẞ" * 50,
    "🙂" * 80,
    "\ufeff1",
    "\t1\t",
    "\u0661\u0662\u0663",
    "\uff11\uff12\uff13",  # Arabic-Indic and full-width digits
    "null",
    "None",
    "undefined",
    "NaN",
    "true",
    "[]",
    "{}",
]
PHONES = [
    ME,
    "+6281299990002",
    "081299990003",
    "6281299990004",
    "+62 812-9999-0005",
    "+62 (812) 9999 0006",
    "+14155552671",
]
BAD_PHONES = [
    "",
    "0",
    "12",
    "+62",
    "+999999999999999999",
    "phone",
    "0812-ABCD-EFGH",
    "+62 1",
    "081299990001" * 3,
]

field = st.one_of(
    st.none(),
    st.sampled_from(HOSTILE),
    st.text(max_size=60),
    st.text(alphabet="0123456789*#", max_size=40),
)
session_ids = st.one_of(
    st.none(), st.sampled_from(["s1", "s2", "ATUid_1"]), field, st.text(min_size=120, max_size=140)
)
phones = st.one_of(st.none(), st.sampled_from(PHONES), st.sampled_from(BAD_PHONES), field)
texts = st.one_of(
    field,
    st.text(min_size=1900, max_size=2100, alphabet="1*9"),
    st.lists(st.sampled_from([*HOSTILE, "1", "2", "3"]), max_size=8).map("*".join),
)


SLOW_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW_OK)
@given(session_id=session_ids, phone=phones, text=texts, service_code=field, network_code=field)
def test_any_payload_gets_a_valid_answer(
    client: FlaskClient,
    session_id: str | None,
    phone: str | None,
    text: str | None,
    service_code: str | None,
    network_code: str | None,
) -> None:
    form = {
        name: value
        for name, value in (
            ("sessionId", session_id),
            ("phoneNumber", phone),
            ("text", text),
            ("serviceCode", service_code),
            ("networkCode", network_code),
        )
        if value is not None
    }
    response = client.post("/ussd", data=form)
    event(f"HTTP {response.status_code}")
    check_reply(response)


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_OK)
@given(
    session_id=st.sampled_from(["s1", "s2", "ATUid_1"]) | st.text(min_size=1, max_size=128),
    phone=st.sampled_from(PHONES),
    text=texts,
    service_code=field,
    network_code=field,
)
def test_a_valid_caller_typing_anything_gets_a_screen(
    client: FlaskClient,
    session_id: str,
    phone: str,
    text: str | None,
    service_code: str | None,
    network_code: str | None,
) -> None:
    form = {
        name: value
        for name, value in (
            ("sessionId", session_id),
            ("phoneNumber", phone),
            ("text", text),
            ("serviceCode", service_code),
            ("networkCode", network_code),
        )
        if value is not None
    }
    response = client.post("/ussd", data=form)
    event(f"HTTP {response.status_code}")
    body = check_reply(response)
    if session_id.strip() and len(text or "") <= 2000:
        assert response.status_code == 200, body


keypad = st.one_of(
    st.sampled_from(["1", "2", "3", "4", "5", "9", "0", "00", "98", "1956", "12345678"]),
    st.sampled_from(HOSTILE),
    st.text(max_size=12),
)


@settings(max_examples=120, deadline=None, suppress_health_check=SLOW_OK)
@given(
    number=st.sampled_from(PHONES),
    session=st.sampled_from(["a", "b", "c"]),
    inputs=st.lists(keypad, max_size=12),
)
def test_any_key_sequence_gets_valid_screens(
    app: Flask, client: FlaskClient, number: str, session: str, inputs: list[str]
) -> None:
    phone = Phone(client, number)
    check_reply(
        phone.client.post(
            "/ussd",
            data={"sessionId": session, "phoneNumber": number, "serviceCode": "*123#", "text": ""},
        )
    )
    for i in range(1, len(inputs) + 1):
        body = check_reply(
            client.post(
                "/ussd",
                data={
                    "sessionId": session,
                    "phoneNumber": number,
                    "serviceCode": "*123#",
                    "networkCode": "51010",
                    "text": "*".join(inputs[:i]),
                },
            )
        )
        if body.startswith("END "):
            break
    # whatever was typed, the session log can still be written
    runtime(app).session_log.flush(force=True)


# --- malformed requests: 400 with a reason ---------------------------------------------------

GOOD = {
    "sessionId": "ATUid_x",
    "serviceCode": "*123#",
    "phoneNumber": ME,
    "networkCode": "51010",
    "text": "",
}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"sessionId": None}, "sessionId is missing\n"),
        ({"sessionId": ""}, "sessionId is missing\n"),
        ({"sessionId": "   "}, "sessionId is missing\n"),
        ({"sessionId": "s" * 129}, "sessionId is too long\n"),
        ({"phoneNumber": None}, "phoneNumber is missing or not a valid phone number\n"),
        ({"phoneNumber": ""}, "phoneNumber is missing or not a valid phone number\n"),
        ({"phoneNumber": "12345"}, "phoneNumber is missing or not a valid phone number\n"),
        ({"phoneNumber": "+62 1"}, "phoneNumber is missing or not a valid phone number\n"),
        ({"phoneNumber": "not a phone"}, "phoneNumber is missing or not a valid phone number\n"),
        ({"text": "1*" * 1000 + "1"}, "text is too long\n"),
    ],
)
def test_malformed_requests_get_400_with_one_line(
    client: FlaskClient, db: Database, changes: dict[str, str | None], reason: str
) -> None:
    form = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    response = client.post("/ussd", data=form)
    assert response.status_code == 400
    assert response.get_data(as_text=True) == reason
    check_reply(response)


def test_form_fields_are_read_as_werkzeug_reads_them(client: FlaskClient) -> None:
    # a repeated field: the first value counts; escapes and "+" decode; the multipart
    # spelling of the same form gets the same answer
    repeated = "&".join(f"{k}={v}" for k, v in GOOD.items() if k != "phoneNumber")
    body = f"{repeated}&phoneNumber=%2B6281299990001&phoneNumber=junk&sessionId=ATUid_y"
    first = client.post("/ussd", data=body, content_type="application/x-www-form-urlencoded")
    assert check_reply(first).startswith("CON Adminduk Buleleng\n")
    multipart = client.post("/ussd", data={**GOOD, "text": "2"}, content_type="multipart/form-data")
    assert check_reply(multipart) != check_reply(first)  # the same session, one step on
    spaced = client.post(
        "/ussd",
        data="sessionId=ATUid+z&phoneNumber=%2B6281299990001&text=",
        content_type="application/x-www-form-urlencoded",
    )
    assert check_reply(spaced).startswith("CON ")


def test_too_many_form_fields_get_a_one_line_refusal(client: FlaskClient) -> None:
    body = "&".join(f"f{i}=x" for i in range(30)) + "&sessionId=s&phoneNumber=%2B6281299990001"
    for path in ("/ussd", "/ussd/events"):
        response = client.post(path, data=body, content_type="application/x-www-form-urlencoded")
        assert (response.status_code, response.get_data(as_text=True)) == (
            400,
            "too many form fields\n",
        )


def test_limits_are_inclusive(client: FlaskClient) -> None:
    assert client.post("/ussd", data={**GOOD, "sessionId": "s" * 128}).status_code == 200
    response = client.post("/ussd", data={**GOOD, "sessionId": "t" * 128, "text": "1" * 2000})
    assert response.status_code == 200
    assert check_reply(response).startswith("CON ")


def test_phone_spellings_are_the_same_caller(client: FlaskClient) -> None:
    first = client.post("/ussd", data={**GOOD, "phoneNumber": "0812-9999-0001"})
    second = client.post("/ussd", data={**GOOD, "phoneNumber": "+62 812 9999 0001", "text": "2"})
    third = client.post("/ussd", data={**GOOD, "phoneNumber": "6281299990001", "text": "2*1"})
    assert check_reply(first).startswith("CON Adminduk Buleleng\n")
    # one conversation: the second and third hops continue it rather than start afresh
    assert check_reply(second) != check_reply(first)
    assert check_reply(third) not in (check_reply(first), check_reply(second))


def test_an_oversized_body_gets_a_one_line_refusal(client: FlaskClient) -> None:
    response = client.post("/ussd", data={**GOOD, "text": "1" * 70_000})
    assert response.status_code == 413
    body = response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    assert body.endswith("\n") and body.count("\n") == 1, body


# --- idempotency: a retried callback changes nothing ----------------------------------------


@pytest.fixture
def resident(db: Database) -> str:
    with db.begin() as session:
        queries.upsert_resident(session, ME, village_code=TEMBOK, language="id")
    return ME


def test_a_retried_booking_hop_books_once(phone: Phone, db: Database, resident: str) -> None:
    phone.dial()
    for key in ("2", "1", "1", "1"):  # home visit, for me, sick, KTP (village remembered)
        assert phone.press(key).startswith("CON ")
    assert phone.press("1").startswith("CON ")  # skip the hamlet → confirm
    done = phone.press("1")  # send
    assert done.startswith("END ")
    with db.begin() as session:
        booking = session.scalar(select(HomeVisitBooking))
        assert booking is not None
        number = booking.number
    assert number in done
    # the gateway retries the last callback: same reply, nothing new
    assert phone.post("2*1*1*1*1*1") == done
    assert phone.post("2*1*1*1*1*1") == done
    assert count(db, HomeVisitBooking) == 1
    assert count(db, OutboxMessage) == 1
    with db.begin() as session:
        message = session.scalar(select(OutboxMessage))
        assert message is not None
        assert (message.recipient, message.dedupe_key) == (ME, f"booking-confirmed:{number}")


def test_a_retried_hop_does_not_advance_twice(phone: Phone) -> None:
    main = phone.dial()
    who = phone.press("2")
    assert phone.post("") == main  # a late retry of the first hop
    assert phone.post("2") == who  # and of the second
    reason = phone.press("1")
    assert reason not in (main, who)
    assert phone.post("2*1") == reason
    assert phone.press("1") not in (main, who, reason)  # the flow carried on from "reason"


def test_a_retried_first_hop_is_not_a_dropped_session(
    phone: Phone, app: Flask, db: Database
) -> None:
    first = phone.dial()
    assert phone.post("") == first
    assert phone.post("") == first
    assert runtime(app).session_log.flush(force=True) == 0
    assert count(db, UssdSessionLog) == 0


# --- webhook authentication ------------------------------------------------------------------


@pytest.fixture
def secured(app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app({"TESTING": True, **app_config, "WEBHOOK_TOKEN": "s3cret-t0ken"})
    yield app
    runtime(app).db.dispose()


def test_webhook_token(secured: Flask) -> None:
    client = secured.test_client()
    for response in (
        client.post("/ussd", data=GOOD),
        client.post("/ussd?token=wrong", data=GOOD),
        client.post("/ussd?token=", data=GOOD),
        client.post("/ussd?token=s3cret-t0ke", data=GOOD),
        client.post("/ussd", data=GOOD, headers={"X-Webhook-Token": "S3CRET-T0KEN"}),
        client.post("/ussd/events", data={**GOOD, "status": "Success"}),
    ):
        assert response.status_code == 403
        assert response.get_data(as_text=True) == "webhook token missing or wrong\n"
    by_query = client.post("/ussd?token=s3cret-t0ken", data=GOOD)
    assert by_query.status_code == 200
    assert by_query.get_data(as_text=True).startswith("CON Adminduk Buleleng\n")
    by_header = client.post(
        "/ussd", data={**GOOD, "text": "2"}, headers={"X-Webhook-Token": "s3cret-t0ken"}
    )
    assert by_header.status_code == 200
    assert check_reply(by_header).startswith("CON ")
    assert (
        client.post(
            "/ussd/events?token=s3cret-t0ken", data={**GOOD, "status": "Success"}
        ).status_code
        == 200
    )
    assert client.get("/healthz").status_code == 200  # the load balancer has no token


def test_webhook_ip_allow_list(app_config: dict[str, Any]) -> None:
    app = create_app({"TESTING": True, **app_config, "WEBHOOK_ALLOWED_IPS": ["10.9.0.0/16"]})
    try:
        client = app.test_client()
        refused = client.post("/ussd", data=GOOD)  # from 127.0.0.1
        assert refused.status_code == 403
        assert refused.get_data(as_text=True) == "source address not allowed\n"
        spoofed = client.post("/ussd", data=GOOD, headers={"X-Forwarded-For": "10.9.1.2"})
        assert spoofed.status_code == 403  # no trusted proxy: the header is not believed
        allowed = client.post("/ussd", data=GOOD, environ_base={"REMOTE_ADDR": "10.9.1.2"})
        assert allowed.status_code == 200
        assert check_reply(allowed).startswith("CON ")
        outside = client.post("/ussd", data=GOOD, environ_base={"REMOTE_ADDR": "10.10.0.1"})
        assert outside.status_code == 403
    finally:
        runtime(app).db.dispose()


def test_webhook_ip_allow_list_behind_a_trusted_proxy(app_config: dict[str, Any]) -> None:
    app = create_app(
        {
            "TESTING": True,
            **app_config,
            "WEBHOOK_ALLOWED_IPS": ["10.9.0.0/16"],
            "TRUSTED_PROXIES": 1,
        }
    )
    try:
        client = app.test_client()
        via_proxy = client.post("/ussd", data=GOOD, headers={"X-Forwarded-For": "10.9.1.2"})
        assert via_proxy.status_code == 200
        # only the proxy's own entry counts: a forged earlier hop does not get in
        forged = client.post("/ussd", data=GOOD, headers={"X-Forwarded-For": "10.9.1.2, 192.0.2.7"})
        assert forged.status_code == 403
    finally:
        runtime(app).db.dispose()


def test_token_and_allow_list_together(app_config: dict[str, Any]) -> None:
    app = create_app(
        {
            "TESTING": True,
            **app_config,
            "WEBHOOK_TOKEN": "tok",
            "WEBHOOK_ALLOWED_IPS": ["10.9.0.0/16"],
        }
    )
    try:
        client = app.test_client()
        inside = {"REMOTE_ADDR": "10.9.1.2"}
        assert client.post("/ussd", data=GOOD, environ_base=inside).status_code == 403
        assert client.post("/ussd?token=tok", data=GOOD).status_code == 403
        assert client.post("/ussd?token=tok", data=GOOD, environ_base=inside).status_code == 200
    finally:
        runtime(app).db.dispose()


# --- an unexpected failure still answers the phone ------------------------------------------


class BrokenEngine:
    def begin(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("engine exploded")

    def advance(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("engine exploded")


def test_an_exception_in_a_hop_ends_politely(
    app: Flask, phone: Phone, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rt = runtime(app)
    main = phone.dial()
    with monkeypatch.context() as patch:
        patch.setattr(rt, "ussd_engine", BrokenEngine())
        with caplog.at_level(logging.ERROR, logger="gateway.webhooks.ussd"):
            reply = phone.press("2")
            assert phone.last_status == 200
            assert reply == FAILURE_REPLY
            assert check_reply(phone.client.post("/ussd", data=GOOD)) == FAILURE_REPLY
        assert "USSD hop failed" in caplog.text
        assert "engine exploded" in caplog.text
    assert FAILURE_REPLY.startswith("END ") and len(FAILURE_REPLY) <= SCREEN_LIMIT
    # the failure left no trace in the caller's state: the same key works now
    assert phone.post("2") not in (main, FAILURE_REPLY)


def test_a_broken_session_store_ends_politely(
    app: Flask, phone: Phone, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: Any, **kwargs: Any) -> Any:
        raise redis.ConnectionError("Redis went away")

    monkeypatch.setattr(runtime(app).store, "load", down)
    assert phone.dial() == FAILURE_REPLY
    assert phone.last_status == 200


def test_a_broken_database_ends_politely(
    app: Flask, phone: Phone, resident: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone.dial()

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("database went away")

    monkeypatch.setattr(runtime(app).db, "begin", down)
    monkeypatch.setattr(runtime(app).db, "read", down)
    reply = phone.press("1")  # document status needs the database
    assert (phone.last_status, reply) == (200, FAILURE_REPLY)


def test_a_hamlet_with_control_characters_is_refused_or_cleaned(
    phone: Phone, db: Database, resident: str
) -> None:
    phone.dial()
    for key in ("2", "1", "1", "1"):
        phone.press(key)
    confirm = phone.press("Kaja\x00\x07")
    assert "\x00" not in confirm and "\x07" not in confirm
    assert phone.press("1") != FAILURE_REPLY


# --- /ussd/events, /healthz ------------------------------------------------------------------


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
            "hopsCount": "x",
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


def test_a_nul_in_a_session_id_does_not_poison_the_session_log(
    app: Flask, client: FlaskClient, db: Database
) -> None:
    """PostgreSQL refuses NUL in text: one bad callback must not lose everyone's log rows."""
    for session_id, number in (("bad\x00id", ME), ("good", "+6281299990002")):
        client.post(
            "/ussd",
            data={
                **GOOD,
                "sessionId": session_id,
                "phoneNumber": number,
                "serviceCode": "*1\x0023#",
            },
        )
        client.post(
            "/ussd", data={**GOOD, "sessionId": session_id + "-next", "phoneNumber": number}
        )  # the first is dropped → queued
    assert runtime(app).session_log.flush(force=True) == 2
    assert sorted(row.session_id for row in _logs(db)) == ["badid", "good"]
    response = client.post(
        "/ussd/events", data={"sessionId": "ev\x00", "phoneNumber": ME, "status": "Success"}
    )
    assert (response.status_code, response.get_data(as_text=True)) == (200, "OK")


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.get_data(as_text=True)) == (200, "ok\n")
