"""Bad input at the webhooks' door (issue 10, items 7, 8 and 10), on both configurations.

Every field of the four callbacks (/ussd, /ussd/events, /sms/inbound, /sms/delivery): a NUL or
another control character, a value longer than it can be, a number out of range -- a 400 with
one plain line naming the field, nothing kept, never a 5xx or a 200 that dropped the data. A
chunked body is held to MAX_CONTENT_LENGTH like one with a Content-Length. An inbound SMS
without ``text`` is refused; an empty one is kept and not answered.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse, run_wsgi_app

from gateway.webhooks.ussd import FAILURE_REPLY
from storage.db import Database
from storage.models import DeliveryReport, InboundMessage, OutboxMessage, UssdSessionLog
from tests.helpers import ME, count

GOOD: dict[str, dict[str, str]] = {
    "/ussd": {
        "sessionId": "ATUid_1",
        "serviceCode": "*123#",
        "phoneNumber": ME,
        "networkCode": "51010",
        "text": "",
    },
    "/ussd/events": {
        "sessionId": "ATUid_1",
        "phoneNumber": ME,
        "serviceCode": "*123#",
        "networkCode": "51010",
        "status": "Success",
        "hopsCount": "2",
        "durationInMillis": "5000",
        "cost": "IDR 0.00",
        "date": "2026-11-28 10:00:00",
        "input": "1",
        "lastAppResponse": "END Terima kasih.",
        "errorMessage": "",
    },
    "/sms/inbound": {
        "from": ME,
        "to": "98765",
        "text": "BANTUAN",
        "date": "2026-11-28 10:00:00",
        "id": "ATXid_in_1",
        "linkId": "link-1",
        "networkCode": "51010",
    },
    "/sms/delivery": {
        "id": "ATXid_1",
        "status": "Success",
        "phoneNumber": ME,
        "networkCode": "51010",
        "failureReason": "",
        "retryCount": "0",
    },
}

# What each callback keeps or answers: a refused callback must leave all of these unchanged.
KEPT = (InboundMessage, DeliveryReport, UssdSessionLog, OutboxMessage)


def kept(db: Database) -> tuple[int, ...]:
    return tuple(count(db, model) for model in KEPT)


def one_line(response: TestResponse) -> str:
    body = response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    assert body.endswith("\n") and body.count("\n") == 1 and len(body) <= 120, body
    assert "Traceback" not in body
    return body.removesuffix("\n")


def every_field() -> list[tuple[str, str]]:
    return [(path, name) for path, form in GOOD.items() for name in form]


# --- NUL and control characters in every field ------------------------------------------------


@pytest.mark.parametrize(("path", "name"), every_field())
@pytest.mark.parametrize("bad", ["a\x00b", "\x00", "x\x1by", "x\x7f", "x\x85y"])
def test_a_control_character_in_any_field_is_refused(
    client: FlaskClient, db: Database, path: str, name: str, bad: str
) -> None:
    before = kept(db)
    response = client.post(path, data={**GOOD[path], name: bad})
    assert response.status_code == 400
    assert one_line(response) == f"{name} holds a control character"
    assert kept(db) == before


def test_line_breaks_only_where_a_text_may_have_them(client: FlaskClient, db: Database) -> None:
    inbound = client.post("/sms/inbound", data={**GOOD["/sms/inbound"], "text": "BANTUAN\r\n"})
    assert (inbound.status_code, one_line(inbound)) == (200, "ok")
    for path, name in (("/ussd", "text"), ("/sms/delivery", "status"), ("/sms/inbound", "to")):
        response = client.post(path, data={**GOOD[path], name: "1\n2"})
        assert (response.status_code, one_line(response)) == (
            400,
            f"{name} holds a control character",
        )


def test_a_control_character_in_a_field_name_is_refused(client: FlaskClient) -> None:
    for path in GOOD:
        response = client.post(path, data={**GOOD[path], "x\x00": "1"})
        assert (response.status_code, one_line(response)) == (
            400,
            "a field name holds a control character",
        )


# --- lengths and ranges -----------------------------------------------------------------------

TOO_LONG = [
    ("/ussd", "sessionId", 129, "sessionId is too long"),
    ("/ussd", "text", 2001, "text is too long"),
    ("/ussd", "serviceCode", 33, "serviceCode is too long"),
    ("/ussd", "networkCode", 17, "networkCode is too long"),
    ("/ussd/events", "sessionId", 129, "sessionId and a valid phoneNumber are required"),
    ("/ussd/events", "status", 17, "status is too long"),
    ("/sms/inbound", "id", 65, "an inbound message needs id and from"),
    ("/sms/inbound", "text", 1601, "text is too long"),
    ("/sms/inbound", "to", 129, "to is too long"),
    ("/sms/inbound", "linkId", 129, "linkId is too long"),
    ("/sms/inbound", "date", 129, "date is too long"),
    ("/sms/inbound", "networkCode", 129, "networkCode is too long"),
    ("/sms/delivery", "id", 65, "a delivery report needs id and status"),
    ("/sms/delivery", "status", 25, "a delivery report needs id and status"),
    ("/sms/delivery", "failureReason", 61, "failureReason is too long"),
    ("/sms/delivery", "phoneNumber", 33, "phoneNumber is too long"),
    ("/sms/delivery", "retryCount", 129, "retryCount is too long"),
]


@pytest.mark.parametrize(("path", "name", "length", "reason"), TOO_LONG)
def test_an_oversized_field_is_refused(
    client: FlaskClient, db: Database, path: str, name: str, length: int, reason: str
) -> None:
    before = kept(db)
    response = client.post(path, data={**GOOD[path], name: "7" * length})
    assert (response.status_code, one_line(response)) == (400, reason)
    assert kept(db) == before
    # one character less is fine
    fits = client.post(path, data={**GOOD[path], name: "7" * (length - 1)})
    assert fits.status_code != 400 or one_line(fits) != reason


@pytest.mark.parametrize(
    ("value", "fine"),
    [("0", True), ("10000", True), ("10001", False), ("99999999999", False), ("-1", False)],
)
def test_hops_count_within_range(client: FlaskClient, db: Database, value: str, fine: bool) -> None:
    response = client.post("/ussd/events", data={**GOOD["/ussd/events"], "hopsCount": value})
    if fine:
        assert (response.status_code, response.get_data(as_text=True)) == (200, "OK")
        assert count(db, UssdSessionLog) == 1
    else:
        assert (response.status_code, one_line(response)) == (
            400,
            "hopsCount must be a whole number from 0 to 10000",
        )
        assert count(db, UssdSessionLog) == 0


# --- an inbound SMS without text, or with an empty one ---------------------------------------


def test_an_inbound_sms_without_text_is_refused(client: FlaskClient, db: Database) -> None:
    """It was answered with a paid "Pilihan salah"."""
    form = {k: v for k, v in GOOD["/sms/inbound"].items() if k != "text"}
    response = client.post("/sms/inbound", data=form)
    assert (response.status_code, one_line(response)) == (400, "an inbound message needs text")
    assert kept(db) == (0, 0, 0, 0)


@pytest.mark.parametrize("text", ["", "   ", "\n", " \r\n\t "])
def test_an_empty_inbound_sms_is_kept_and_not_answered(
    client: FlaskClient, db: Database, text: str
) -> None:
    response = client.post("/sms/inbound", data={**GOOD["/sms/inbound"], "text": text})
    assert (response.status_code, one_line(response)) == (200, "empty")
    assert count(db, InboundMessage) == 1
    assert count(db, OutboxMessage) == 0


# --- chunked bodies, as gunicorn hands them over ----------------------------------------------


class ChunkedBody(io.RawIOBase):
    """A de-chunked request body as gunicorn passes it on: no Content-Length, read until it
    ends. Made on the fly, so 50 MB costs no memory; counts what was read of it."""

    def __init__(self, form: bytes, size: int) -> None:
        self.data = form + b"&padding="
        self.size = max(size, len(self.data))
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self.position)
        for i in range(n):
            at = self.position + i
            buffer[i] = self.data[at] if at < len(self.data) else 0x78  # "x"
        self.position += n
        return n

    def read(self, size: int = -1) -> bytes:  # faster than the byte loop for the filler
        if size < 0:
            size = self.size - self.position
        n = min(size, self.size - self.position)
        start, end = self.position, self.position + n
        head = self.data[start:end] if start < len(self.data) else b""
        self.position = end
        return head + b"x" * (n - len(head))


def post_chunked(app: Flask, path: str, form: dict[str, str], size: int) -> tuple[str, bytes, int]:
    from urllib.parse import urlencode

    body = ChunkedBody(urlencode(form).encode(), size)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "HTTP_TRANSFER_ENCODING": "chunked",  # and no CONTENT_LENGTH
        "wsgi.input": body,
        "wsgi.input_terminated": True,  # what gunicorn sets: the stream ends by itself
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    app_iter, status, _headers = run_wsgi_app(app, environ)
    return status, b"".join(app_iter), body.position


@pytest.mark.parametrize("path", list(GOOD))
@pytest.mark.parametrize("size", [70_000, 50_000_000])
def test_a_chunked_body_over_the_limit_is_refused(
    app: Flask, db: Database, path: str, size: int
) -> None:
    """Was cut to 64 KiB and processed: answered 200, and an SMS or a report kept."""
    form = {**GOOD[path], "id": f"ATXid_{path}_{size}"}
    status, body, read = post_chunked(app, path, form, size)
    assert (status, body) == (
        "413 Request Entity Too Large",
        b"request body too large (at most 65536 bytes)\n",
    )
    assert read <= 65536 + 1  # not read past the limit
    assert kept(db) == (0, 0, 0, 0)


@pytest.mark.parametrize("path", list(GOOD))
def test_a_small_chunked_body_is_read_whole(app: Flask, db: Database, path: str) -> None:
    status, body, _ = post_chunked(app, path, GOOD[path], 60_000)  # the padding fits
    assert status.startswith("200"), (status, body)


# --- anything at all: a 200 or a one-line 400, and a 400 keeps nothing ------------------------

HOSTILE = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["", " ", "\x00", "a\x00b", "\r\n", "-1", "99999999999", "1e3", "٣", "²", "\u202e1"]
    ),
    st.text(alphabet="0123456789", min_size=1, max_size=14),
    st.integers(min_value=10, max_value=3000).map(lambda n: "9" * n),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(list(GOOD)),
    changes=st.dictionaries(
        st.sampled_from(sorted({name for form in GOOD.values() for name in form})),
        st.none() | HOSTILE,
        max_size=4,
    ),
    message_id=st.integers(min_value=0, max_value=10**9),
)
def test_any_fields_get_a_200_or_a_one_line_400(
    client: FlaskClient, db: Database, path: str, changes: dict[str, str | None], message_id: int
) -> None:
    form: dict[str, str] = {**GOOD[path], "id": f"ATXid_{message_id}"}
    if path.startswith("/ussd"):
        del form["id"]
    for name, value in changes.items():
        if value is None:
            form.pop(name, None)
        else:
            form[name] = value
    before = kept(db)
    response = client.post(path, data=form)
    assert response.status_code in (200, 400), (response.status_code, response.data)
    if response.status_code == 400:
        one_line(response)
        assert kept(db) == before
    else:
        assert response.get_data(as_text=True) != FAILURE_REPLY  # no failure hidden in a 200
