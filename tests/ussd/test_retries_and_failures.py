"""A retried callback changes nothing and gets the same reply; an unexpected failure (in the
engine, the session store or the database) still answers the phone, politely."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from gateway.runtime import runtime
from gateway.webhooks.ussd import FAILURE_REPLY
from storage import queries
from storage.db import Database
from storage.models import HomeVisitBooking, OutboxMessage, UssdSessionLog
from tests.helpers import ME, TEMBOK, Phone, count
from tests.ussd.helpers import GOOD, SCREEN_LIMIT, check_reply

# --- idempotency: a retried callback changes nothing -----------------------------------------


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


# --- an unexpected failure still answers the phone -------------------------------------------


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


# --- a repeated callback ---------------------------------------------------------------------


def test_a_repeated_callback_gets_the_same_reply(phone: Phone) -> None:
    phone.dial()
    first = phone.press("2")
    assert phone.post("2") == first  # the gateway retried the same hop
    assert phone.post("2") == first
    assert phone.press("1").startswith("CON Alasannya?")  # and the session goes on from there


def test_input_containing_a_star_is_taken_whole(phone: Phone) -> None:
    phone.dial()
    phone.press("2")
    phone.press("1")
    phone.press("1")
    phone.press("1")  # village unknown: district list
    phone.press("9")
    phone.press("10")
    assert phone.press("Br*Kaja").startswith(
        "CON Kirim?\nRekam KTP-el, diri sendiri, Sakit\nDesa Tembok\nBanjar Br*Kaja\n"
    )
