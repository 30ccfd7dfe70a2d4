"""workers/providers: parsing delivery reports and inbound messages, the provider factory, and the
console provider."""

from __future__ import annotations

import logging
import re

import pytest

from common.privacy import mask_phone
from tests.fake_africastalking import FakeAfricasTalking
from tests.workers.helpers import API_KEY, USERNAME, A, B, C, ids_of
from workers.providers import DeliveryReport, InboundSms, SendResult, make_provider
from workers.providers.africastalking import (
    AfricasTalkingProvider,
    parse_delivery_report,
    parse_inbound,
)
from workers.providers.console import ConsoleProvider

# -- delivery reports and inbound messages ----------------------------------------------------


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
    assert parse_inbound({"id": "a1", "from": A, "text": "", "linkId": ""}) == InboundSms(
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


# -- the factory and the console provider -----------------------------------------------------


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


def test_make_provider_africastalking_sends_to_the_configured_url(
    at_fake: FakeAfricasTalking,
) -> None:
    provider = make_provider(
        settings(
            SMS_PROVIDER="africastalking",
            AT_USERNAME=USERNAME,
            AT_API_KEY=API_KEY,
            AT_SENDER_ID="DUKCAPIL",
            AT_BASE_URL=at_fake.url,
        )
    )
    assert type(provider) is AfricasTalkingProvider
    assert provider.name == "africastalking"
    assert provider.sender_id == "DUKCAPIL"
    assert provider.timeout == (3.05, 9.05)
    assert provider.send("x", [A]) == [SendResult(A, "sent", ids_of(at_fake)[A])]
    (call,) = at_fake.requests
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
    assert caplog.records[0].getMessage() == f"SMS to {mask_phone(A)} ({ids[0]}): Halo"
    assert provider.send("x", []) == []
