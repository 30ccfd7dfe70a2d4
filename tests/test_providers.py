"""workers/providers: the real africastalking SDK, through our provider class, against a local
fake of Africa's Talking (tests/fake_africastalking.py); the console provider; the provider
factory; webhook parsing; and SMS segment counting (storage/segments.py)."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from africastalking.Service import AfricasTalkingException

from common.segments import GSM7_BASIC, SegmentCount, count_segments, non_gsm_characters
from tests.fake_africastalking import FakeAfricasTalking, free_port
from workers.providers import (
    DeliveryReport,
    InboundSms,
    ProviderError,
    SendResult,
    make_provider,
)
from workers.providers.africastalking import (
    AfricasTalkingProvider,
    parse_delivery_report,
    parse_inbound,
)
from workers.providers.console import ConsoleProvider

USERNAME, API_KEY = "bulelengdukcapil", "atsk_test_0123456789abcdef"
A, B, C = "+6281200000001", "+6281200000002", "+6281200000003"
BAD = "+6281200000099"
ID = re.compile(r"^ATXid_\d{8}$")


@pytest.fixture
def fake() -> Iterator[FakeAfricasTalking]:
    with FakeAfricasTalking(api_key=API_KEY, username=USERNAME) as server:
        yield server


@pytest.fixture
def provider(fake: FakeAfricasTalking) -> AfricasTalkingProvider:
    return AfricasTalkingProvider(
        username=USERNAME, api_key=API_KEY, base_url=fake.url, timeout=(0.5, 0.5)
    )


def ids_of(fake: FakeAfricasTalking, call: int = -1) -> dict[str, str]:
    return {r["number"]: r["messageId"] for r in fake.requests[call].replied}


# -- one call per batch, the documented request --------------------------------------------


def test_batch_is_one_request_with_the_documented_fields(
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    results = provider.send("Permohonan KK-0042 siap diambil.", [A, B, C])

    assert fake.call_count == 1
    (call,) = fake.requests
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

    ids = ids_of(fake)
    assert all(ID.match(i) for i in ids.values())
    assert len(set(ids.values())) == 3
    assert results == [
        SendResult(A, "sent", ids[A]),
        SendResult(B, "sent", ids[B]),
        SendResult(C, "sent", ids[C]),
    ]
    assert [fake.sent_to(n) for n in (A, B, C)] == [1, 1, 1]
    assert fake.total_messages() == 3


def test_sender_id_is_sent_as_from(fake: FakeAfricasTalking) -> None:
    provider = AfricasTalkingProvider(
        username=USERNAME, api_key=API_KEY, sender_id="DUKCAPIL", base_url=fake.url + "/"
    )  # a trailing slash is fine
    provider.send("Halo", [A])
    (call,) = fake.requests
    assert call.sender == "DUKCAPIL"
    assert call.form["from"] == "DUKCAPIL"


def test_non_ascii_text_arrives_intact(
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    text = "Jadwal: Kamis 09.00 — bawa KTP 🙏 (ê, ñ, €)"
    assert provider.send(text, [A])[0].outcome == "sent"
    assert fake.requests[0].message == text


def test_each_batch_is_its_own_request_and_ids_are_unique(
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    first = provider.send("satu", [A, B])
    second = provider.send("dua", [A])
    assert fake.call_count == 2
    assert [c.message for c in fake.requests] == ["satu", "dua"]
    assert fake.sent_to(A) == 2 and fake.sent_to(B) == 1
    assert fake.duplicates() == {A: 2}
    ids = [r.message_id for r in first + second]
    assert len(set(ids)) == 3


# -- per-recipient results -----------------------------------------------------------------


@pytest.mark.parametrize("code", [100, 101, 102])
def test_success_codes_are_sent_with_the_message_id(
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider, code: int
) -> None:
    fake.set_status(A, code)
    (result,) = provider.send("x", [A])
    assert result == SendResult(A, "sent", ids_of(fake)[A])
    assert result.message_id is not None and ID.match(result.message_id)


@pytest.mark.parametrize(
    ("code", "reason"),
    [(500, "500 InternalServerError"), (501, "501 GatewayError"), (502, "502 RejectedByGateway")],
)
def test_gateway_codes_are_transient(
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider, code: int, reason: str
) -> None:
    fake.set_status(A, code)
    assert provider.send("x", [A]) == [SendResult(A, "transient", None, reason)]
    assert fake.sent_to(A) == 0


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
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider, code: int, reason: str
) -> None:
    fake.set_status(A, code)
    assert provider.send("x", [A]) == [SendResult(A, "permanent", None, reason)]


def test_mixed_batch_keeps_the_callers_order(
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    fake.set_status(BAD, 403)
    fake.set_status(B, 502)
    fake.set_status(C, 405)
    results = provider.send("x", [BAD, A, B, C])
    assert fake.call_count == 1
    assert results == [
        SendResult(BAD, "permanent", None, "403 InvalidPhoneNumber"),
        SendResult(A, "sent", ids_of(fake)[A]),
        SendResult(B, "transient", None, "502 RejectedByGateway"),
        SendResult(C, "permanent", None, "405 InsufficientBalance"),
    ]
    assert fake.sent_counts() == {A: 1}


def test_recipient_missing_from_the_reply_is_transient(
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    fake.omit(B)
    results = provider.send("x", [A, B])
    assert results == [
        SendResult(A, "sent", ids_of(fake)[A]),
        SendResult(B, "transient", None, "missing from provider reply"),
    ]


def test_empty_recipients_list_in_the_reply_makes_everyone_transient(
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    # What AT answers for e.g. an unknown sender id: 201, a Message, no Recipients.
    fake.reply_body = json.dumps(
        {"SMSMessageData": {"Message": "InvalidSenderId", "Recipients": []}}
    )
    assert provider.send("x", [A, B]) == [
        SendResult(A, "transient", None, "missing from provider reply"),
        SendResult(B, "transient", None, "missing from provider reply"),
    ]


def test_string_status_codes_are_read_as_numbers(
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    fake.reply_body = json.dumps(
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


# -- reply content types ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "sdk_returns"),
    [
        ("application/json", dict),
        ("application/json; charset=utf-8", str),
        ("text/plain", str),
    ],
)
def test_every_reply_content_type_is_read(
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider, content_type: str, sdk_returns: type
) -> None:
    fake.content_type = content_type
    fake.set_status(B, 403)
    # The SDK itself parses JSON only for the exact type; the provider must handle both.
    raw = provider.service.send("x", [A], timeout=(0.5, 0.5))
    assert type(raw) is sdk_returns
    results = provider.send("x", [A, B])
    assert results == [
        SendResult(A, "sent", ids_of(fake)[A]),
        SendResult(B, "permanent", None, "403 InvalidPhoneNumber"),
    ]


# -- whole-call failures raise ProviderError -----------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 401])
def test_error_status_raises_provider_error(
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider, status: int
) -> None:
    fake.fail_next(1, status=status)
    with pytest.raises(ProviderError, match=r"^provider refused the request: ") as caught:
        provider.send("x", [A, B])
    assert isinstance(caught.value.__cause__, AfricasTalkingException)
    assert fake.requests[0].reply_status == status
    assert fake.total_messages() == 0
    # the next call goes through
    assert [r.outcome for r in provider.send("x", [A, B])] == ["sent", "sent"]


def test_fail_next_counts_down(fake: FakeAfricasTalking, provider: AfricasTalkingProvider) -> None:
    fake.fail_next(2, status=503)
    for _ in range(2):
        with pytest.raises(ProviderError):
            provider.send("x", [A])
    assert provider.send("x", [A])[0].outcome == "sent"
    assert [c.reply_status for c in fake.requests] == [503, 503, 201]
    assert fake.sent_to(A) == 1
    assert fake.stats() == {
        "calls": 3,
        "failed_calls": 2,
        "messages": 1,
        "numbers": 1,
        "duplicates": 0,
    }


def test_outage_until_recovered(fake: FakeAfricasTalking, provider: AfricasTalkingProvider) -> None:
    fake.outage(502)
    for _ in range(3):
        with pytest.raises(ProviderError, match="Bad Gateway"):
            provider.send("x", [A])
    fake.recover()
    assert provider.send("x", [A])[0].outcome == "sent"
    assert fake.sent_to(A) == 1


def test_wrong_api_key_is_401(fake: FakeAfricasTalking) -> None:
    provider = AfricasTalkingProvider(username=USERNAME, api_key="atsk_wrong", base_url=fake.url)
    with pytest.raises(ProviderError, match="authentication is invalid"):
        provider.send("x", [A])
    assert fake.requests[0].reply_status == 401
    assert fake.requests[0].api_key == "atsk_wrong"
    assert fake.total_messages() == 0


def test_slow_reply_beyond_the_timeout_raises(
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    fake.delay = 2.0
    started = time.monotonic()
    with pytest.raises(ProviderError, match=r"^provider unreachable: ReadTimeout$") as caught:
        provider.send("x", [A])
    assert time.monotonic() - started < 1.5
    assert isinstance(caught.value.__cause__, requests.Timeout)
    # The fake accepted it before the client gave up: a retry would send it twice.
    assert fake.sent_to(A) == 1


def test_slow_reply_within_the_timeout_is_fine(
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    fake.delay = 0.05
    started = time.monotonic()
    assert provider.send("x", [A])[0].outcome == "sent"
    assert time.monotonic() - started >= 0.05


def test_refused_connection_raises() -> None:
    provider = AfricasTalkingProvider(
        username=USERNAME,
        api_key=API_KEY,
        base_url=f"http://127.0.0.1:{free_port()}",
        timeout=(0.5, 0.5),
    )
    with pytest.raises(ProviderError, match=r"^provider unreachable: ConnectionError$") as caught:
        provider.send("x", [A])
    assert isinstance(caught.value.__cause__, requests.ConnectionError)


def test_stopped_server_refuses() -> None:
    fake = FakeAfricasTalking().start()
    provider = AfricasTalkingProvider(
        username=USERNAME, api_key=API_KEY, base_url=fake.url, timeout=(0.5, 0.5)
    )
    assert provider.send("x", [A])[0].outcome == "sent"
    fake.stop()
    with pytest.raises(ProviderError, match="unreachable"):
        provider.send("x", [A])


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_malformed_body_raises(
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider, content_type: str
) -> None:
    fake.content_type = content_type
    fake.malformed = True
    with pytest.raises(ProviderError):
        provider.send("x", [A])


@pytest.mark.parametrize(
    "body",
    [
        "",
        "[]",
        '"Sent"',
        "null",
        '{"error": "Something went wrong"}',
        '{"SMSMessageData": "Sent"}',
        '{"SMSMessageData": {"Message": "Sent to 0/1"}}',
        '{"SMSMessageData": {"Message": "x", "Recipients": null}}',
        '{"SMSMessageData": {"Message": "x", "Recipients": 5}}',
        '{"SMSMessageData": {"Message": "x", "Recipients": ["+6281200000001"]}}',
        '{"SMSMessageData": {"Message": "x", "Recipients": [null]}}',
    ],
)
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_unexpected_reply_shapes_raise_provider_error(
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider, body: str, content_type: str
) -> None:
    fake.content_type = content_type
    fake.reply_body = body
    with pytest.raises(ProviderError):
        provider.send("x", [A])


def test_a_number_the_sdk_would_refuse_fails_alone(
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    # The SDK refuses a whole call when one number is not +E.164 (``0812...``); the provider
    # marks that number permanent and sends the others in one call.
    results = provider.send("x", [A, "081200000001", B])
    assert [(r.recipient, r.outcome) for r in results] == [
        (A, "sent"),
        ("081200000001", "permanent"),
        (B, "sent"),
    ]
    assert results[1].reason == "403 InvalidPhoneNumber (not E.164)"
    assert fake.call_count == 1
    assert fake.requests[0].recipients == [A, B]


def test_only_refused_numbers_make_no_call(
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    results = provider.send("x", ["081200000001"])
    assert [r.outcome for r in results] == ["permanent"]
    assert fake.call_count == 0


def test_recipients_list_is_not_mutated(provider: AfricasTalkingProvider) -> None:
    recipients = [A, B]
    provider.send("x", recipients)
    assert recipients == [A, B]


# -- the fake itself (used by other tests and the benchmark) -------------------------------


def test_fake_checks_fields_and_paths(fake: FakeAfricasTalking) -> None:
    headers = {"apiKey": API_KEY}
    with requests.Session() as http:
        missing = http.post(
            fake.messaging_url,
            headers=headers,
            data={"username": USERNAME, "message": "x"},
            timeout=2,
        )
        assert (missing.status_code, fake.total_messages()) == (400, 0)
        assert http.get(fake.url + "/version1/other", timeout=2).status_code == 404
        wrong_user = http.post(
            fake.messaging_url,
            headers=headers,
            data={"username": "someone", "to": A, "message": "x"},
            timeout=2,
        )
        assert wrong_user.status_code == 401
        ok = http.post(
            fake.messaging_url,
            headers=headers,
            data={
                "username": USERNAME,
                "to": f"{A},0812",
                "message": "x",
                "bulkSMSMode": 1,
                "enqueue": 1,
            },
            timeout=2,
        )
    assert ok.status_code == 201
    assert ok.headers["Content-Type"] == "application/json"
    body = ok.json()["SMSMessageData"]
    assert body["Message"] == "Sent to 1/2 Total Cost: IDR 350.0000"
    assert [(r["number"], r["statusCode"], r["status"], r["cost"]) for r in body["Recipients"]] == [
        (A, 101, "Success", "IDR 350.0000"),
        ("0812", 403, "InvalidPhoneNumber", "0"),
    ]
    assert body["Recipients"][1]["messageId"] == "None"
    assert fake.requests[-1].enqueue == "1"


def test_fake_reset_and_control_endpoint(
    fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    provider.send("x", [A])
    fake.set_status(B, 403)
    fake.outage(503)
    fake.reset()
    assert (fake.requests, fake.total_messages(), fake.call_count) == ([], 0, 0)
    assert provider.send("x", [B])[0].outcome == "sent"  # statuses and outage cleared

    with requests.Session() as http:
        reply = http.post(
            fake.url + "/_fake/control",
            timeout=2,
            json={"status": {A: 405}, "fail_next": [1, 502], "delay": 0.01},
        )
        assert reply.status_code == 200
        with pytest.raises(ProviderError):
            provider.send("x", [A])
        assert provider.send("x", [A])[0].reason == "405 InsufficientBalance"
        stats = http.get(fake.url + "/_fake/stats", timeout=2).json()
    assert stats == {"calls": 3, "failed_calls": 1, "messages": 1, "numbers": 1, "duplicates": 0}
    assert fake.delay == 0.01


def test_fake_runs_as_a_script() -> None:
    script = Path(__file__).with_name("fake_africastalking.py")
    with subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--delay", "0.01", "--api-key", API_KEY],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        try:
            line = process.stdout.readline().strip()
            assert line.startswith("FAKE_AT_URL=http://127.0.0.1:")
            url = line.removeprefix("FAKE_AT_URL=")
            provider = AfricasTalkingProvider(username=USERNAME, api_key=API_KEY, base_url=url)
            assert [r.outcome for r in provider.send("x", [A, B])] == ["sent", "sent"]
        finally:
            process.terminate()
        final = json.loads(process.stdout.read().strip())
    assert process.returncode == 0
    assert final == {"calls": 1, "failed_calls": 0, "messages": 2, "numbers": 2, "duplicates": 0}


# -- delivery reports and inbound messages ---------------------------------------------------


def test_delivery_report_with_every_documented_field() -> None:
    form = {
        "id": "ATXid_00000001",
        "status": "Failed",
        "phoneNumber": A,
        "networkCode": "51010",
        "failureReason": "UserIsInactive",
        "retryCount": "0",
    }
    assert parse_delivery_report(form) == DeliveryReport(
        message_id="ATXid_00000001", status="Failed", phone=A, failure_reason="UserIsInactive"
    )


def test_delivery_report_minimal_and_trimmed() -> None:
    assert parse_delivery_report({"id": " ATXid_1 ", "status": "Success\n"}) == DeliveryReport(
        message_id="ATXid_1", status="Success", phone=None, failure_reason=None
    )
    assert (
        parse_delivery_report(
            {"id": "ATXid_1", "status": "Sent", "phoneNumber": "", "failureReason": ""}
        ).failure_reason
        is None
    )


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"status": "Success"},
        {"id": "ATXid_1"},
        {"id": "  ", "status": "Success"},
        {"id": "ATXid_1", "status": ""},
        {"id": "A" * 65, "status": "Success"},
        {"id": "ATXid_1", "status": "S" * 25},
    ],
)
def test_malformed_delivery_report_raises(form: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="id and status"):
        parse_delivery_report(form)


def test_inbound_with_every_documented_field() -> None:
    form = {
        "from": A,
        "to": "98765",
        "text": "STATUS KK-0042",
        "date": "2026-05-09 07:35:25",
        "id": "a1b2c3",
        "linkId": "link-9",
        "networkCode": "51010",
    }
    assert parse_inbound(form) == InboundSms(
        message_id="a1b2c3", sender=A, to="98765", text="STATUS KK-0042", link_id="link-9"
    )


def test_inbound_minimal() -> None:
    assert parse_inbound({"id": "a1", "from": A, "linkId": ""}) == InboundSms(
        message_id="a1", sender=A, to="", text="", link_id=None
    )


@pytest.mark.parametrize(
    "form", [{}, {"from": A}, {"id": "a1"}, {"id": "a1", "from": " "}, {"id": "x" * 65, "from": A}]
)
def test_malformed_inbound_raises(form: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="id and from"):
        parse_inbound(form)


@pytest.mark.parametrize("provider_class", ["console", "africastalking"])
def test_providers_parse_webhooks_the_same_way(provider_class: str) -> None:
    provider = make_provider(
        {
            "SMS_PROVIDER": provider_class,
            "AT_USERNAME": USERNAME,
            "AT_API_KEY": API_KEY,
            "AT_SENDER_ID": "",
            "AT_BASE_URL": "",
        }
    )
    assert provider.parse_delivery_report({"id": "m1", "status": "Success"}).message_id == "m1"
    assert provider.parse_inbound({"id": "i1", "from": A, "text": "hi"}).text == "hi"
    with pytest.raises(ValueError):
        provider.parse_delivery_report({"id": "m1"})
    with pytest.raises(ValueError):
        provider.parse_inbound({"id": "i1"})


# -- the factory and the console provider ----------------------------------------------------


def settings(**overrides: str) -> dict[str, str]:
    return {
        "SMS_PROVIDER": "console",
        "AT_USERNAME": "",
        "AT_API_KEY": "",
        "AT_SENDER_ID": "",
        "AT_BASE_URL": "",
        **overrides,
    }


def test_make_provider_console() -> None:
    provider = make_provider(settings())
    assert type(provider) is ConsoleProvider
    assert provider.name == "console"


def test_make_provider_africastalking_sends_to_the_configured_url(fake: FakeAfricasTalking) -> None:
    provider = make_provider(
        settings(
            SMS_PROVIDER="africastalking",
            AT_USERNAME=USERNAME,
            AT_API_KEY=API_KEY,
            AT_SENDER_ID="DUKCAPIL",
            AT_BASE_URL=fake.url,
        )
    )
    assert type(provider) is AfricasTalkingProvider
    assert provider.name == "africastalking"
    assert provider.sender_id == "DUKCAPIL"
    assert provider.timeout == (3.05, 9.05)
    assert provider.send("x", [A]) == [SendResult(A, "sent", ids_of(fake)[A])]
    (call,) = fake.requests
    assert (call.username, call.api_key, call.sender) == (USERNAME, API_KEY, "DUKCAPIL")


def test_make_provider_africastalking_defaults() -> None:
    provider = make_provider(
        settings(SMS_PROVIDER="africastalking", AT_USERNAME=USERNAME, AT_API_KEY=API_KEY)
    )
    assert isinstance(provider, AfricasTalkingProvider)
    assert provider.sender_id is None
    assert provider.service._baseUrl == "https://api.africastalking.com/version1"


def test_make_provider_sandbox_username_uses_the_sandbox() -> None:
    provider = make_provider(
        settings(SMS_PROVIDER="africastalking", AT_USERNAME="sandbox", AT_API_KEY=API_KEY)
    )
    assert isinstance(provider, AfricasTalkingProvider)
    assert provider.service._baseUrl == "https://api.sandbox.africastalking.com/version1"


@pytest.mark.parametrize(("username", "api_key"), [("", API_KEY), (USERNAME, ""), ("", "")])
def test_make_provider_needs_credentials(username: str, api_key: str) -> None:
    with pytest.raises(ValueError, match="AT_USERNAME and AT_API_KEY"):
        make_provider(
            settings(SMS_PROVIDER="africastalking", AT_USERNAME=username, AT_API_KEY=api_key)
        )


@pytest.mark.parametrize("name", ["twilio", "", "AfricasTalking"])
def test_make_provider_unknown_name(name: str) -> None:
    with pytest.raises(ValueError, match=f"unknown SMS_PROVIDER '{name}'"):
        make_provider(settings(SMS_PROVIDER=name))


def test_console_provider_reports_sent_with_unique_ids(caplog: pytest.LogCaptureFixture) -> None:
    provider = ConsoleProvider()
    with caplog.at_level(logging.INFO, logger="workers.providers.console"):
        results = provider.send("Halo", [A, B, A])
        results += provider.send("Halo lagi", [C])
    assert [(r.recipient, r.outcome, r.reason) for r in results] == [
        (A, "sent", None),
        (B, "sent", None),
        (A, "sent", None),
        (C, "sent", None),
    ]
    ids = [r.message_id for r in results]
    assert all(i is not None and re.fullmatch(r"console-[0-9a-f]{16}", i) for i in ids)
    assert len(set(ids)) == 4
    assert len(caplog.records) == 4
    assert caplog.records[0].getMessage() == f"SMS to {A} ({ids[0]}): Halo"
    assert provider.send("x", []) == []


# -- SMS segments (storage/segments.py) ------------------------------------------------------


def test_gsm7_basic_table_is_complete() -> None:
    assert len(GSM7_BASIC) == 127  # 128 positions less the escape


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SegmentCount("GSM-7", 0, 1)),
        ("a", SegmentCount("GSM-7", 1, 1)),
        ("a" * 160, SegmentCount("GSM-7", 160, 1)),
        ("a" * 161, SegmentCount("GSM-7", 161, 2)),
        ("a" * 306, SegmentCount("GSM-7", 306, 2)),
        ("a" * 307, SegmentCount("GSM-7", 307, 3)),
        ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\r\n", SegmentCount("GSM-7", 44, 1)),
        ("€" * 80, SegmentCount("GSM-7", 160, 1)),
        ("€" * 80 + "a", SegmentCount("GSM-7", 161, 2)),
        ("a" * 159 + "[", SegmentCount("GSM-7", 161, 2)),
        ("ê", SegmentCount("UCS-2", 1, 1)),
        ("ê" * 70, SegmentCount("UCS-2", 70, 1)),
        ("ê" * 71, SegmentCount("UCS-2", 71, 2)),
        ("ê" * 134, SegmentCount("UCS-2", 134, 2)),
        ("ê" * 135, SegmentCount("UCS-2", 135, 3)),
        ("a" * 100 + "ê", SegmentCount("UCS-2", 101, 2)),  # one character makes it all UCS-2
        ("€" * 69 + "ê", SegmentCount("UCS-2", 70, 1)),  # in UCS-2, € is one unit
        ("😀", SegmentCount("UCS-2", 2, 1)),
        ("😀" * 35, SegmentCount("UCS-2", 70, 1)),
        ("😀" * 35 + "a", SegmentCount("UCS-2", 71, 2)),
        ("\t", SegmentCount("UCS-2", 1, 1)),
        ("`", SegmentCount("UCS-2", 1, 1)),
    ],
)
def test_count_segments(text: str, expected: SegmentCount) -> None:
    assert count_segments(text) == expected


@pytest.mark.parametrize("char", list("^{}\\[~]|€"))
def test_extension_characters_count_two(char: str) -> None:
    assert count_segments(char) == SegmentCount("GSM-7", 2, 1)
    assert count_segments("a" * 158 + char) == SegmentCount("GSM-7", 160, 1)
    assert count_segments("a" * 159 + char) == SegmentCount("GSM-7", 161, 2)


def test_non_gsm_characters() -> None:
    assert non_gsm_characters("Halo, permohonan KK siap. €[]{}") == []
    assert non_gsm_characters("Café ê 😀 ê \u2019ñ\t") == ["\t", "ê", "\u2019", "😀"]
    assert non_gsm_characters("") == []
