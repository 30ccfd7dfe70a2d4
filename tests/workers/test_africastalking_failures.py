"""workers/providers/africastalking.py when the call goes wrong: error statuses, outages, timeouts,
refused connections and malformed replies raise ProviderError; numbers the SDK would refuse
fail alone."""

from __future__ import annotations

import time

import pytest
import requests
from africastalking.Service import AfricasTalkingException

from tests.fake_africastalking import FakeAfricasTalking, free_port
from tests.workers.helpers import API_KEY, USERNAME, A, B
from workers.providers import ProviderError
from workers.providers.africastalking import AfricasTalkingProvider


@pytest.mark.parametrize("status", [500, 502, 503, 401])
def test_error_status_raises_provider_error(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider, status: int
) -> None:
    at_fake.fail_next(1, status=status)
    with pytest.raises(ProviderError, match=r"^provider refused the request: ") as caught:
        provider.send("x", [A, B])
    assert isinstance(caught.value.__cause__, AfricasTalkingException)
    assert at_fake.requests[0].reply_status == status
    assert at_fake.total_messages() == 0
    # the next call goes through
    assert [r.outcome for r in provider.send("x", [A, B])] == ["sent", "sent"]


def test_fail_next_counts_down(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    at_fake.fail_next(2, status=503)
    for _ in range(2):
        with pytest.raises(ProviderError):
            provider.send("x", [A])
    assert provider.send("x", [A])[0].outcome == "sent"
    assert [c.reply_status for c in at_fake.requests] == [503, 503, 201]
    assert at_fake.sent_to(A) == 1
    assert at_fake.stats() == {
        "calls": 3,
        "failed_calls": 2,
        "messages": 1,
        "numbers": 1,
        "duplicates": 0,
    }


def test_outage_until_recovered(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    at_fake.outage(502)
    for _ in range(3):
        with pytest.raises(ProviderError, match="Bad Gateway"):
            provider.send("x", [A])
    at_fake.recover()
    assert provider.send("x", [A])[0].outcome == "sent"
    assert at_fake.sent_to(A) == 1


def test_wrong_api_key_is_401(at_fake: FakeAfricasTalking) -> None:
    provider = AfricasTalkingProvider(username=USERNAME, api_key="atsk_wrong", base_url=at_fake.url)
    with pytest.raises(ProviderError, match="authentication is invalid"):
        provider.send("x", [A])
    assert at_fake.requests[0].reply_status == 401
    assert at_fake.requests[0].api_key == "atsk_wrong"
    assert at_fake.total_messages() == 0


def test_slow_reply_beyond_the_timeout_raises(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    at_fake.delay = 2.0
    started = time.monotonic()
    with pytest.raises(ProviderError, match=r"^provider unreachable: ReadTimeout$") as caught:
        provider.send("x", [A])
    assert time.monotonic() - started < 1.5
    assert isinstance(caught.value.__cause__, requests.Timeout)
    # The fake accepted it before the client gave up: a retry would send it twice.
    assert at_fake.sent_to(A) == 1


def test_slow_reply_within_the_timeout_is_fine(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    at_fake.delay = 0.05
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
    at_fake = FakeAfricasTalking().start()
    provider = AfricasTalkingProvider(
        username=USERNAME, api_key=API_KEY, base_url=at_fake.url, timeout=(0.5, 0.5)
    )
    assert provider.send("x", [A])[0].outcome == "sent"
    at_fake.stop()
    with pytest.raises(ProviderError, match="unreachable"):
        provider.send("x", [A])


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_malformed_body_raises(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider, content_type: str
) -> None:
    at_fake.content_type = content_type
    at_fake.malformed = True
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
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider, body: str, content_type: str
) -> None:
    at_fake.content_type = content_type
    at_fake.reply_body = body
    with pytest.raises(ProviderError):
        provider.send("x", [A])


def test_a_number_the_sdk_would_refuse_fails_alone(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider
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
    assert at_fake.call_count == 1
    assert at_fake.requests[0].recipients == [A, B]


def test_only_refused_numbers_make_no_call(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    results = provider.send("x", ["081200000001"])
    assert [r.outcome for r in results] == ["permanent"]
    assert at_fake.call_count == 0


def test_recipients_list_is_not_mutated(provider: AfricasTalkingProvider) -> None:
    recipients = [A, B]
    provider.send("x", recipients)
    assert recipients == [A, B]
