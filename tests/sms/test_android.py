"""An office Android phone (SMS Gateway for Android) through its real client and a fake of its
server (tests/fake_android_gateway.py): sending, the states its signed webhooks report, a
resident's SMS answered, and every refusal of a webhook that is not the phone's."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from storage.db import Database
from storage.models import InboundMessage, OutboxMessage
from tests.fake_android_gateway import FakeAndroidGateway, Signed
from tests.helpers import ME, NEIGHBOUR, fails, ok, run
from tests.sms.helpers import daytime
from tests.sms.test_delivery_reports import owed, state
from workers.providers import ProviderError
from workers.providers.android import AndroidProvider
from workers.sender import OutboxSender, TransientSendError


@pytest.fixture
def phone_gw() -> Iterator[FakeAndroidGateway]:
    with FakeAndroidGateway() as fake:
        yield fake


def android(fake: FakeAndroidGateway, rate_per_minute: float = 0) -> AndroidProvider:
    return AndroidProvider(
        base_url=fake.url,
        username=fake.username,
        password=fake.password,
        rate_per_minute=rate_per_minute,
        timeout=(1, 1),
    )


@pytest.fixture
def signed_app(app: Flask, phone_gw: FakeAndroidGateway) -> Flask:
    app.config["ANDROID_SIGNING_KEY"] = phone_gw.signing_key
    return app


def post(client: FlaskClient, signed: Signed, **headers: str) -> tuple[int, str]:
    response = client.post("/sms/android", data=signed.body, headers={**signed.headers, **headers})
    return response.status_code, response.get_data(as_text=True).strip()


def android_sender(app: Flask, fake: FakeAndroidGateway, monkeypatch: Any) -> OutboxSender:
    sender: OutboxSender = app.extensions["gateway"].worker.sender
    monkeypatch.setattr(sender, "provider", android(fake))
    monkeypatch.setattr(sender, "clock", daytime)
    return sender


# --- the provider, through the client ------------------------------------------------------------


def test_each_recipient_is_one_message_with_an_id_of_ours(phone_gw: FakeAndroidGateway) -> None:
    results = android(phone_gw).send("Halo", [ME, NEIGHBOUR])
    assert [(r.recipient, r.outcome) for r in results] == [(ME, "sent"), (NEIGHBOUR, "sent")]
    assert [a.phone for a in phone_gw.accepted] == [ME, NEIGHBOUR]
    assert [r.message_id for r in results] == [a.id for a in phone_gw.accepted]
    assert len({r.message_id for r in results}) == 2
    assert all(a.text == "Halo" for a in phone_gw.accepted)


def test_a_refused_number_fails_alone(phone_gw: FakeAndroidGateway) -> None:
    phone_gw.refuse(NEIGHBOUR)
    results = android(phone_gw).send("Halo", [ME, NEIGHBOUR])
    assert [(r.outcome, r.reason) for r in results] == [("sent", None), ("permanent", "refused")]


@pytest.mark.parametrize("status", [500, 503, 401])
def test_a_failed_call_is_transient(phone_gw: FakeAndroidGateway, status: int) -> None:
    phone_gw.fail_next(1, status)
    with pytest.raises(ProviderError, match=str(status)):
        android(phone_gw).send("Halo", [ME, NEIGHBOUR])
    assert phone_gw.accepted == []


def test_a_failure_midway_keeps_what_went(phone_gw: FakeAndroidGateway) -> None:
    phone_gw.fail_from_call(2)
    results = android(phone_gw).send("Halo", [ME, NEIGHBOUR])
    assert [r.outcome for r in results] == ["sent", "transient"]
    assert [a.phone for a in phone_gw.accepted] == [ME]


def test_an_unreachable_phone_is_transient() -> None:
    provider = AndroidProvider(
        base_url="http://127.0.0.1:9/3rdparty/v1",
        username="u",
        password="p",
        rate_per_minute=0,
        timeout=(0.2, 0.2),
    )
    with pytest.raises(ProviderError, match="unreachable"):
        provider.send("Halo", [ME])


def test_the_rate_sets_small_calls() -> None:
    provider = AndroidProvider(
        base_url="http://phone:8080", username="u", password="p", rate_per_minute=30
    )
    assert provider.rate_per_second == 0.5
    assert provider.max_recipients_per_call == 5  # ten seconds of the phone's sending


# --- through the outbox and the webhooks ---------------------------------------------------------


def test_sent_then_delivered_by_the_phones_webhooks(
    signed_app: Flask,
    client: FlaskClient,
    db: Database,
    phone_gw: FakeAndroidGateway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = owed(db)
    android_sender(signed_app, phone_gw, monkeypatch).send_batch([message])
    with db.begin() as session:
        row = session.get(OutboxMessage, message)
        assert row is not None
        assert (row.status, row.provider) == ("sent", "android")
        assert row.provider_message_id == phone_gw.accepted[0].id
    sent_event, delivered_event = phone_gw.sent_events(phone_gw.accepted[0])
    assert post(client, sent_event) == (200, "applied")
    assert state(db, message)[:2] == ("sent", "Sent")
    assert post(client, delivered_event) == (200, "applied")
    assert post(client, sent_event) == (200, "duplicate")  # the phone retried it
    assert state(db, message)[:2] == ("delivered", "Success")


def test_a_state_before_the_send_returned_is_kept_then_applied(
    signed_app: Flask, client: FlaskClient, phone_gw: FakeAndroidGateway
) -> None:
    early = phone_gw.signed("sms:delivered", {"messageId": "adm-not-yet", "phoneNumber": ME})
    assert post(client, early) == (200, "pending")


def test_a_failed_state_fails_the_message_with_its_reason(
    signed_app: Flask,
    client: FlaskClient,
    db: Database,
    phone_gw: FakeAndroidGateway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = owed(db)
    android_sender(signed_app, phone_gw, monkeypatch).send_batch([message])
    accepted = phone_gw.accepted[0]
    failed = phone_gw.signed(
        "sms:failed",
        {"messageId": accepted.id, "phoneNumber": ME, "failedAt": "x", "reason": "RESULT_ERROR"},
    )
    assert post(client, failed) == (200, "applied")
    status, provider_status, error, _, failed_at = state(db, message)
    assert (status, provider_status, failed_at) == ("failed", "Failed", True)
    assert error == "Failed: RESULT_ERROR"


def test_a_phone_outage_goes_back_to_the_queue(
    app: Flask, db: Database, phone_gw: FakeAndroidGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = owed(db)
    phone_gw.outage(503)
    with pytest.raises(TransientSendError):
        android_sender(app, phone_gw, monkeypatch).send_batch([message])
    assert state(db, message)[0] == "queued"


def test_a_residents_sms_is_answered_through_the_outbox(
    signed_app: Flask, client: FlaskClient, db: Database, phone_gw: FakeAndroidGateway
) -> None:
    assert post(client, phone_gw.received("0812-9999-0001", "BANTUAN")) == (200, "ok")
    with db.begin() as session:
        replies = session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == ME)).all()
        inbound = session.scalars(select(InboundMessage)).all()
    assert len(replies) == 1 and replies[0].kind == "reply"
    assert "Minta ditelepon petugas" in replies[0].body  # BANTUAN: the office, a call back
    assert [m.provider_id for m in inbound] == ["android:evt000000"]


def test_the_answer_to_a_residents_sms_leaves_by_the_phone(
    signed_app: Flask,
    client: FlaskClient,
    db: Database,
    phone_gw: FakeAndroidGateway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert post(client, phone_gw.received(ME, "BANTUAN")) == (200, "ok")
    with db.begin() as session:
        [reply] = session.scalars(select(OutboxMessage.id)).all()
    assert android_sender(signed_app, phone_gw, monkeypatch).send_batch([reply]).sent == 1
    [accepted] = phone_gw.accepted
    assert accepted.phone == ME and "Minta ditelepon petugas" in accepted.text
    with db.begin() as session:
        row = session.get(OutboxMessage, reply)
        assert row is not None and (row.status, row.provider) == ("sent", "android")


def test_the_same_webhook_twice_is_answered_once_but_the_same_text_again_is_new(
    signed_app: Flask, client: FlaskClient, db: Database, phone_gw: FakeAndroidGateway
) -> None:
    first = phone_gw.received(ME, "BANTUAN")
    assert post(client, first) == (200, "ok")
    assert post(client, first) == (200, "duplicate")  # the phone retried its webhook
    # The app's messageId is made from the text: the same text later is a new event.
    assert post(client, phone_gw.received(ME, "BANTUAN")) == (200, "ok")


# --- refusals: 4xx, one line, nothing kept -------------------------------------------------------


def test_a_wrong_signature_is_refused(
    signed_app: Flask, client: FlaskClient, db: Database, phone_gw: FakeAndroidGateway
) -> None:
    forged = phone_gw.received(ME, "STOP", key="not-the-key")
    assert post(client, forged) == (403, "X-Signature does not match")
    tampered = phone_gw.received(ME, "BANTUAN")
    tampered.body = tampered.body.replace(b"BANTUAN", b"STOP")
    assert post(client, tampered) == (403, "X-Signature does not match")
    with db.begin() as session:
        assert session.scalars(select(InboundMessage)).all() == []


@pytest.mark.parametrize("age", [301, -301, 3600])
def test_a_stale_timestamp_is_refused(
    signed_app: Flask, client: FlaskClient, phone_gw: FakeAndroidGateway, age: int
) -> None:
    old = phone_gw.received(ME, "BANTUAN", timestamp=int(time.time()) - age)
    assert post(client, old) == (403, "X-Timestamp is stale")


def test_a_fresh_timestamp_within_five_minutes_is_taken(
    signed_app: Flask, client: FlaskClient, phone_gw: FakeAndroidGateway
) -> None:
    late = phone_gw.received(ME, "BANTUAN", timestamp=int(time.time()) - 290)
    assert post(client, late) == (200, "ok")


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"X-Signature": ""}, (401, "X-Signature and X-Timestamp are required")),
        ({"X-Timestamp": ""}, (401, "X-Signature and X-Timestamp are required")),
        ({"X-Timestamp": "yesterday"}, (403, "X-Timestamp is not a number")),
        ({"X-Timestamp": "-5"}, (403, "X-Timestamp is not a number")),
        ({"X-Signature": "ü" * 64}, (403, "X-Signature does not match")),
    ],
)
def test_missing_or_odd_headers_are_refused(
    signed_app: Flask,
    client: FlaskClient,
    phone_gw: FakeAndroidGateway,
    headers: dict[str, str],
    expected: tuple[int, str],
) -> None:
    assert post(client, phone_gw.received(ME, "BANTUAN"), **headers) == expected


def test_without_a_signing_key_every_webhook_is_refused(
    app: Flask, client: FlaskClient, phone_gw: FakeAndroidGateway
) -> None:
    status, text = post(client, phone_gw.received(ME, "BANTUAN"))
    assert status == 403 and "ANDROID_SIGNING_KEY" in text


@pytest.mark.parametrize(
    "envelope",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"event": "sms:received"}',
        b'{"event": 5, "payload": {}}',
        b'{"event": "sms:received", "id": "e1", "payload": {"message": "x"}}',
        b'{"event": "sms:received", "id": "e1", "payload": {"phoneNumber": "+62", "message": 5}}',
        b'{"event": "sms:received", "payload": {"phoneNumber": "+6281299990001", "message": "x"}}',
        b'{"event": "sms:sent", "id": "e1", "payload": {"phoneNumber": "+6281299990001"}}',
        json.dumps({"event": "sms:sent", "id": "e", "payload": {"messageId": "x" * 65}}).encode(),
        json.dumps(
            {
                "event": "sms:received",
                "id": "e",
                "payload": {"phoneNumber": ME, "message": "x" * 1601},
            }
        ).encode(),
    ],
)
def test_a_malformed_webhook_is_a_400(
    signed_app: Flask, client: FlaskClient, phone_gw: FakeAndroidGateway, envelope: bytes
) -> None:
    stamp = str(int(time.time()))
    from workers.providers.android import sign

    response = client.post(
        "/sms/android",
        data=envelope,
        headers={"X-Timestamp": stamp, "X-Signature": sign(phone_gw.signing_key, envelope, stamp)},
    )
    assert response.status_code == 400
    assert response.get_data(as_text=True).count("\n") == 1


def test_a_sender_that_is_not_a_number_is_a_400(
    signed_app: Flask, client: FlaskClient, phone_gw: FakeAndroidGateway
) -> None:
    assert post(client, phone_gw.received("TELKOMSEL", "Promo!")) == (
        400,
        "phoneNumber is not a valid phone number",
    )


def test_other_events_are_taken_and_ignored(
    signed_app: Flask, client: FlaskClient, phone_gw: FakeAndroidGateway
) -> None:
    ping = phone_gw.signed("system:ping", {"health": {"status": "pass"}})
    assert post(client, ping) == (200, "ignored: system:ping")


def test_the_webhook_token_applies_too(
    signed_app: Flask, client: FlaskClient, phone_gw: FakeAndroidGateway
) -> None:
    signed_app.config["WEBHOOK_TOKEN"] = "rahasia-panjang"
    assert post(client, phone_gw.received(ME, "BANTUAN"))[0] == 403
    signed = phone_gw.received(ME, "BANTUAN")
    response = client.post(
        "/sms/android?token=rahasia-panjang", data=signed.body, headers=signed.headers
    )
    assert response.status_code == 200


# --- registering our webhooks ------------------------------------------------------------------


def test_the_cli_registers_our_webhooks_once(
    signed_app: Flask, phone_gw: FakeAndroidGateway
) -> None:
    signed_app.config.update(
        ANDROID_BASE_URL=phone_gw.url,
        ANDROID_USERNAME=phone_gw.username,
        ANDROID_PASSWORD=phone_gw.password,
        WEBHOOK_TOKEN="rahasia-panjang",
    )
    phone_gw.webhooks["other"] = {"id": "other", "url": "https://x/y", "event": "sms:received"}
    phone_gw.webhooks["old"] = {
        "id": "old",
        "url": "https://old.example/sms/android?token=t",
        "event": "sms:sent",
    }
    runner = signed_app.test_cli_runner()
    url = "https://gw.example/sms/android"
    out = ok(run(runner, "android", "webhooks", "--url", url))
    for event in ("sms:received", "sms:sent", "sms:delivered", "sms:failed"):
        assert f"{event}" in out
    assert "rahasia" not in out
    ours = {h["event"]: h["url"] for h in phone_gw.webhooks.values() if h["id"] != "other"}
    assert ours == dict.fromkeys(
        ["sms:received", "sms:sent", "sms:delivered", "sms:failed"],
        url + "?token=rahasia-panjang",
    )
    assert "other" in phone_gw.webhooks
    ok(run(runner, "android", "webhooks", "--url", url))  # again: nothing added
    assert len(phone_gw.webhooks) == 5


def test_the_cli_refuses_a_wrong_password_and_a_bad_url(
    signed_app: Flask, phone_gw: FakeAndroidGateway
) -> None:
    signed_app.config.update(
        ANDROID_BASE_URL=phone_gw.url, ANDROID_USERNAME="sms", ANDROID_PASSWORD="salah"
    )
    runner = signed_app.test_cli_runner()
    fails(
        run(runner, "android", "webhooks", "--url", "https://gw.example/sms/android"),
        "the phone refused: HTTP 401",
    )
    fails(run(runner, "android", "webhooks", "--url", "gw.example"), "--url must be")
