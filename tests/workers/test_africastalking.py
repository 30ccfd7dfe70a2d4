"""workers/providers/africastalking.py: the real africastalking SDK, through our provider class,
against a local fake of Africa's Talking (tests/fake_africastalking.py) — one call per batch as
documented, a result per recipient in the caller's order, every reply content type."""

from __future__ import annotations

import json

import pytest

from tests.fake_africastalking import FakeAfricasTalking
from tests.workers.helpers import API_KEY, BAD, ID, USERNAME, A, B, C, ids_of
from workers.providers import SendResult
from workers.providers.africastalking import AfricasTalkingProvider

# -- one call per batch, the documented request -----------------------------------------------


def test_batch_is_one_request_with_the_documented_fields(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    results = provider.send("Permohonan KK-0042 siap diambil.", [A, B, C])

    assert at_fake.call_count == 1
    (call,) = at_fake.requests
    assert call.method == "POST"
    assert call.path == "/version1/messaging"
    assert call.api_key == API_KEY
    assert call.content_type == "application/x-www-form-urlencoded"
    assert call.form == {
        "username": USERNAME,
        "to": f"{A},{B},{C}",
        "message": "Permohonan KK-0042 siap diambil.",
        "bulkSMSMode": "1",
    }
    assert call.recipients == [A, B, C]
    assert call.sender is None and call.enqueue is None

    ids = ids_of(at_fake)
    assert all(ID.match(i) for i in ids.values())
    assert len(set(ids.values())) == 3
    assert results == [
        SendResult(A, "sent", ids[A]),
        SendResult(B, "sent", ids[B]),
        SendResult(C, "sent", ids[C]),
    ]
    assert [at_fake.sent_to(n) for n in (A, B, C)] == [1, 1, 1]
    assert at_fake.total_messages() == 3


def test_sender_id_is_sent_as_from(at_fake: FakeAfricasTalking) -> None:
    provider = AfricasTalkingProvider(
        username=USERNAME, api_key=API_KEY, sender_id="DUKCAPIL", base_url=at_fake.url + "/"
    )  # a trailing slash is fine
    provider.send("Halo", [A])
    (call,) = at_fake.requests
    assert call.sender == "DUKCAPIL"
    assert call.form["from"] == "DUKCAPIL"


def test_non_ascii_text_arrives_intact(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    text = "Jadwal: Kamis 09.00 — bawa KTP 🙏 (ê, ñ, €)"
    assert provider.send(text, [A])[0].outcome == "sent"
    assert at_fake.requests[0].message == text


def test_each_batch_is_its_own_request_and_ids_are_unique(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    first = provider.send("satu", [A, B])
    second = provider.send("dua", [A])
    assert at_fake.call_count == 2
    assert [c.message for c in at_fake.requests] == ["satu", "dua"]
    assert at_fake.sent_to(A) == 2 and at_fake.sent_to(B) == 1
    assert at_fake.duplicates() == {A: 2}
    ids = [r.message_id for r in first + second]
    assert len(set(ids)) == 3


# -- per-recipient results --------------------------------------------------------------------


@pytest.mark.parametrize("code", [100, 101, 102])
def test_success_codes_are_sent_with_the_message_id(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider, code: int
) -> None:
    at_fake.set_status(A, code)
    (result,) = provider.send("x", [A])
    assert result == SendResult(A, "sent", ids_of(at_fake)[A])
    assert result.message_id is not None and ID.match(result.message_id)


@pytest.mark.parametrize(
    ("code", "reason"),
    [(500, "500 InternalServerError"), (501, "501 GatewayError"), (502, "502 RejectedByGateway")],
)
def test_gateway_codes_are_transient(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider, code: int, reason: str
) -> None:
    at_fake.set_status(A, code)
    assert provider.send("x", [A]) == [SendResult(A, "transient", None, reason)]
    assert at_fake.sent_to(A) == 0


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (401, "401 RiskHold"),
        (402, "402 InvalidSenderId"),
        (403, "403 InvalidPhoneNumber"),
        (404, "404 UnsupportedNumberType"),
        (405, "405 InsufficientBalance"),
        (406, "406 UserInBlacklist"),
        (407, "407 CouldNotRoute"),
    ],
)
def test_refusal_codes_are_permanent_with_the_reason(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider, code: int, reason: str
) -> None:
    at_fake.set_status(A, code)
    assert provider.send("x", [A]) == [SendResult(A, "permanent", None, reason)]


def test_mixed_batch_keeps_the_callers_order(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    at_fake.set_status(BAD, 403)
    at_fake.set_status(B, 502)
    at_fake.set_status(C, 405)
    results = provider.send("x", [BAD, A, B, C])
    assert at_fake.call_count == 1
    assert results == [
        SendResult(BAD, "permanent", None, "403 InvalidPhoneNumber"),
        SendResult(A, "sent", ids_of(at_fake)[A]),
        SendResult(B, "transient", None, "502 RejectedByGateway"),
        SendResult(C, "permanent", None, "405 InsufficientBalance"),
    ]
    assert at_fake.sent_counts() == {A: 1}


def test_recipient_missing_from_the_reply_is_transient(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    at_fake.omit(B)
    results = provider.send("x", [A, B])
    assert results == [
        SendResult(A, "sent", ids_of(at_fake)[A]),
        SendResult(B, "transient", None, "missing from provider reply"),
    ]


def test_empty_recipients_list_in_the_reply_makes_everyone_transient(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    # What AT answers for e.g. an unknown sender id: 201, a Message, no Recipients.
    at_fake.reply_body = json.dumps(
        {"SMSMessageData": {"Message": "InvalidSenderId", "Recipients": []}}
    )
    assert provider.send("x", [A, B]) == [
        SendResult(A, "transient", None, "missing from provider reply"),
        SendResult(B, "transient", None, "missing from provider reply"),
    ]


def test_string_status_codes_are_read_as_numbers(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    at_fake.reply_body = json.dumps(
        {
            "SMSMessageData": {
                "Message": "Sent to 1/2",
                "Recipients": [
                    {
                        "statusCode": "101",
                        "number": A,
                        "cost": "IDR 350.0000",
                        "status": "Success",
                        "messageId": "ATXid_s1",
                    },
                    {
                        "statusCode": "403",
                        "number": B,
                        "cost": "0",
                        "status": "InvalidPhoneNumber",
                        "messageId": "None",
                    },
                ],
            }
        }
    )
    assert provider.send("x", [A, B]) == [
        SendResult(A, "sent", "ATXid_s1"),
        SendResult(B, "permanent", None, "403 InvalidPhoneNumber"),
    ]


# -- reply content types ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "sdk_returns"),
    [
        ("application/json", dict),
        ("application/json; charset=utf-8", str),
        ("text/plain", str),
    ],
)
def test_every_reply_content_type_is_read(
    at_fake: FakeAfricasTalking,
    provider: AfricasTalkingProvider,
    content_type: str,
    sdk_returns: type,
) -> None:
    at_fake.content_type = content_type
    at_fake.set_status(B, 403)
    # The SDK itself parses JSON only for the exact type; the provider must handle both.
    raw = provider.service.send("x", [A], timeout=(0.5, 0.5))
    assert type(raw) is sdk_returns
    results = provider.send("x", [A, B])
    assert results == [
        SendResult(A, "sent", ids_of(at_fake)[A]),
        SendResult(B, "permanent", None, "403 InvalidPhoneNumber"),
    ]
