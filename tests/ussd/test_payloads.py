"""POST /ussd under hostile and broken callbacks (SPEC §3, §6, §10): whatever a callback carries,
never a 500, never an empty or over-long screen; a malformed request gets a one-line 400."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from common.text_checks import has_control_characters
from gateway.runtime import runtime
from storage.db import Database
from tests.helpers import ME, Phone
from tests.ussd.helpers import GOOD, check_reply

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
    acceptable = (
        session_id.strip()
        and len(text or "") <= 2000
        and len((service_code or "").strip()) <= 32
        and len((network_code or "").strip()) <= 16
        and not any(has_control_characters(value.strip()) for value in form.values())
    )
    assert response.status_code == (200 if acceptable else 400), body


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
