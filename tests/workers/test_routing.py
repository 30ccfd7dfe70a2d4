"""Routing between providers (SMS_ROUTES) and failover, with stub providers and a fake clock:
which route a number takes, when a failing provider hands its calls to the next one, the probe
that brings it back, and the rate the console's estimate uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from common.settings import DEFAULTS
from workers.providers import DeliveryReport, InboundSms, ProviderError, SendResult
from workers.providers.africastalking import parse_delivery_report, parse_inbound
from workers.routing import (
    Paced,
    ProviderHealth,
    Route,
    RoutingProvider,
    messages_per_second,
    parse_routes,
    route_for,
)

ID, KE = "+6281200000001", "+254711000001"


class Stub:
    """Answers every recipient with ``outcome``, or raises when ``down``."""

    def __init__(self, name: str, rate_per_second: float = 0.0) -> None:
        self.name = name
        self.rate_per_second = rate_per_second
        self.down = False
        self.outcome = "sent"
        self.calls: list[list[str]] = []

    def send(self, message: str, recipients: list[str]) -> list[SendResult]:
        self.calls.append(list(recipients))
        if self.down:
            raise ProviderError(f"{self.name} unreachable")
        return [
            SendResult(r, self.outcome, f"{self.name}-{r}" if self.outcome == "sent" else None)
            for r in recipients
        ]

    def parse_delivery_report(self, form: Mapping[str, str]) -> DeliveryReport:
        return parse_delivery_report(form)

    def parse_inbound(self, form: Mapping[str, str]) -> InboundSms:
        return parse_inbound(form)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


ROUTES = [
    {"prefix": "+62", "providers": ["first", "second"]},
    {"providers": ["abroad"]},
]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stubs() -> dict[str, Stub]:
    return {name: Stub(name) for name in ("first", "second", "abroad")}


@pytest.fixture
def router(stubs: dict[str, Stub], clock: Clock) -> RoutingProvider:
    health = ProviderHealth(None, failover_after=60, probe_every=30, clock=clock)
    return RoutingProvider(parse_routes(ROUTES), stubs, health)


def by(results: list[SendResult]) -> list[tuple[str, str, str | None]]:
    return [(r.recipient, r.outcome, r.provider) for r in results]


def test_routes_are_read_and_refused_when_wrong() -> None:
    assert parse_routes(ROUTES) == [
        Route("+62", ("first", "second")),
        Route("", ("abroad",)),
    ]
    for wrong in (
        {"prefix": "+62"},
        [{"prefix": "62", "providers": ["a"]}],
        [{"prefix": "+62", "providers": []}],
        [{"prefix": "+62", "providers": ["a", "a"]}],
        [{"providers": ["a"]}, {"prefix": "", "providers": ["b"]}],
        ["smpp"],
    ):
        with pytest.raises(ValueError):
            parse_routes(wrong)


def test_the_longest_prefix_wins() -> None:
    routes = parse_routes([*ROUTES, {"prefix": "+62812", "providers": ["x"]}])
    assert route_for(routes, "+6281200000001").providers == ("x",)  # type: ignore[union-attr]
    assert route_for(routes, "+6285700000001").providers == ("first", "second")  # type: ignore[union-attr]
    assert route_for(routes, KE).providers == ("abroad",)  # type: ignore[union-attr]
    assert route_for(parse_routes(ROUTES[:1]), KE) is None


def test_each_number_goes_by_its_route_and_names_its_provider(
    router: RoutingProvider, stubs: dict[str, Stub]
) -> None:
    assert by(router.send("Halo", [ID, KE])) == [(ID, "sent", "first"), (KE, "sent", "abroad")]
    assert stubs["first"].calls == [[ID]] and stubs["second"].calls == []


def test_a_number_without_a_route_fails_at_once(stubs: dict[str, Stub], clock: Clock) -> None:
    health = ProviderHealth(None, failover_after=60, probe_every=30, clock=clock)
    router = RoutingProvider(parse_routes(ROUTES[:1]), stubs, health)
    [result] = router.send("Halo", [KE])
    assert (result.outcome, result.reason) == (
        "permanent",
        "no route in SMS_ROUTES for this number",
    )


def test_a_blip_stays_with_the_provider_then_failover_after_the_setting(
    router: RoutingProvider, stubs: dict[str, Stub], clock: Clock
) -> None:
    stubs["first"].down = True
    # Failing, but not for long: back to the outbox, to be retried on the same provider.
    [result] = router.send("Halo", [ID])
    assert (result.outcome, result.provider) == ("transient", None)
    assert "first unreachable" in (result.reason or "")
    clock.now += 30
    assert router.send("Halo", [ID])[0].outcome == "transient"
    assert stubs["second"].calls == []
    # Failing for longer than SMS_FAILOVER_AFTER_SECONDS: the next provider takes the call.
    clock.now += 31
    assert by(router.send("Halo", [ID])) == [(ID, "sent", "second")]
    assert router.down() == {"first": "failing for 61 s"}
    # While it is down, only a probe every SMS_FAILOVER_PROBE_SECONDS tries it first.
    tried = len(stubs["first"].calls)
    assert by(router.send("Halo", [ID])) == [(ID, "sent", "second")]
    assert len(stubs["first"].calls) == tried
    clock.now += 31
    stubs["first"].down = False
    assert by(router.send("Halo", [ID])) == [(ID, "sent", "first")]  # the probe: it is back
    assert router.down() == {}
    assert by(router.send("Halo", [ID])) == [(ID, "sent", "first")]


def test_per_recipient_transient_answers_count_as_failing(
    router: RoutingProvider, stubs: dict[str, Stub], clock: Clock
) -> None:
    stubs["first"].outcome = "transient"
    assert router.send("Halo", [ID])[0].outcome == "transient"
    clock.now += 61
    assert by(router.send("Halo", [ID])) == [(ID, "sent", "second")]


def test_a_permanent_refusal_is_not_moved(router: RoutingProvider, stubs: dict[str, Stub]) -> None:
    stubs["first"].outcome = "permanent"
    assert by(router.send("Halo", [ID])) == [(ID, "permanent", "first")]
    assert stubs["second"].calls == []


def test_when_every_provider_of_a_route_is_down_the_messages_wait(
    router: RoutingProvider, stubs: dict[str, Stub], clock: Clock
) -> None:
    stubs["first"].down = stubs["second"].down = True
    router.send("Halo", [ID])
    clock.now += 61
    [result] = router.send("Halo", [ID])
    assert result.outcome == "transient" and "second" in (result.reason or "")
    assert router.routes_down(router.down()) == []  # the second has only begun to fail
    clock.now += 61
    assert [r.prefix for r in router.routes_down(router.down())] == ["+62"]


def test_smpp_without_a_bind_is_skipped_at_once(clock: Clock) -> None:
    stubs = {"smpp": Stub("smpp"), "android": Stub("android")}
    health = ProviderHealth(None, failover_after=60, probe_every=30, clock=clock)
    router = RoutingProvider(
        parse_routes([{"prefix": "+62", "providers": ["smpp", "android"]}]), stubs, health
    )
    assert by(router.send("Halo", [ID])) == [(ID, "sent", "android")]
    assert stubs["smpp"].calls == []  # no Redis, no bind: never handed a call
    assert router.down() == {"smpp": "no SMPP bind"}


def test_the_call_size_is_that_of_the_providers_that_would_take_the_call_now(
    router: RoutingProvider, stubs: dict[str, Stub], clock: Clock
) -> None:
    stubs["first"].max_recipients_per_call = 500  # type: ignore[attr-defined]  # as SMPP
    stubs["second"].max_recipients_per_call = 5  # type: ignore[attr-defined]  # as a phone
    stubs["abroad"].max_recipients_per_call = 100  # type: ignore[attr-defined]
    # The first provider is up: its large calls (not the phone's, which waits unused).
    assert router.max_recipients_per_call == 100  # the smallest of "first" and "abroad"
    stubs["abroad"].max_recipients_per_call = None  # type: ignore[attr-defined]
    assert router.max_recipients_per_call == 500
    # Down long enough for the phone to take over: the phone's small calls.
    stubs["first"].down = True
    router.send("Halo", [ID])
    clock.now += 61
    assert router.send("Halo", [ID])[0].provider == "second"
    assert router.max_recipients_per_call == 5


def settings(**overrides: Any) -> dict[str, Any]:
    return {**DEFAULTS, **overrides}


def test_the_estimate_uses_the_rate_of_the_provider_that_takes_the_numbers(
    clock: Clock,
) -> None:
    phone = Stub("android", rate_per_second=0.5)
    stubs = {"smpp": Stub("smpp"), "android": phone}
    health = ProviderHealth(None, failover_after=60, probe_every=30, clock=clock)
    router = RoutingProvider(
        parse_routes([{"prefix": "+62", "providers": ["smpp", "android"]}]), stubs, health
    )
    # No bind: the phone takes them, at its rate.
    assert messages_per_second(router, settings(), 1) == ("android", 0.5)
    assert messages_per_second(phone, settings(SMS_RATE_PER_SECOND=0.1), 1) == ("android", 0.1)
    smpp = Stub("smpp")
    assert messages_per_second(smpp, settings(SMPP_RATE_PER_SECOND=50), 2) == ("smpp", 25)
    assert messages_per_second(Stub("console"), settings(), 1) == ("console", 0.0)


def test_paced_waits_for_its_own_throttle() -> None:
    slept: list[float] = []

    class Throttle:
        def reserve(self, count: int, now: float) -> float:
            return count * 2.0

    paced = Paced(Stub("android", 0.5), Throttle(), clock=lambda: 0.0, sleep=slept.append)
    assert [r.outcome for r in paced.send("Halo", [ID, KE])] == ["sent", "sent"]
    assert slept == [4.0]
    assert paced.name == "android"
