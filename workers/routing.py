"""Routing between providers, with failover (SMS_ROUTES; docs/decisions.md "Routing and failover").

A route is an ordered list of providers for the numbers that start with a prefix (the longest
prefix wins; a route without one is the default). A send call is split by route; each part goes
to the first provider of its route that is not down, and what a provider cannot take now goes
to the next one once that provider is down:

- **no bind**: SMPP's bind process publishes its bind in Redis with a short expiry
  (``workers.smpp.handoff.publish_bound``); no key, no bind, and the next provider takes the
  call at once rather than after the worker's hand-off deadline;
- **failing**: a provider whose calls have failed transiently, without one success, for longer
  than SMS_FAILOVER_AFTER_SECONDS. Before that its messages go back to the outbox and are
  retried as before (a blip is not worth moving a broadcast); after it, they go to the next.
  While it is down one call per SMS_FAILOVER_PROBE_SECONDS still tries it, and its first
  success ends the failover.

The state is shared by every worker through Redis (``sms:provider:<name>:failing-since``), or
kept in the process on the embedded default. Each result names the provider that answered it,
and the outbox row records it (``outbox.provider``).

``Paced`` keeps a provider's own rate (the Android phone's ANDROID_RATE_PER_MINUTE) with a
throttle shared by the workers, the same GCRA as SMS_RATE_PER_SECOND.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import redis

from workers.providers import (
    DeliveryReport,
    InboundSms,
    Provider,
    ProviderError,
    SendResult,
)
from workers.smpp import handoff
from workers.throttle import Throttle

log = logging.getLogger(__name__)

FAILING_KEY = "sms:provider:{}:failing-since"
PROBE_KEY = "sms:provider:{}:probe"


@dataclass(frozen=True)
class Route:
    prefix: str  # "" for the default route
    providers: tuple[str, ...]


def parse_routes(value: Any) -> list[Route]:
    """SMS_ROUTES: a list of tables ``{ prefix = "+62", providers = ["smpp", "android"] }``;
    a table without ``prefix`` is the default. ValueError on anything else."""
    if not isinstance(value, list):
        raise ValueError("SMS_ROUTES must be a list of { prefix, providers } tables")
    routes: list[Route] = []
    for entry in value:
        if not isinstance(entry, Mapping):
            raise ValueError("each route in SMS_ROUTES is a { prefix, providers } table")
        prefix = entry.get("prefix", "")
        providers = entry.get("providers")
        if not isinstance(prefix, str) or (prefix and not prefix.startswith("+")):
            raise ValueError(f"route prefix {prefix!r} must start with + (E.164)")
        if (
            not isinstance(providers, list)
            or not providers
            or not all(isinstance(p, str) and p for p in providers)
            or len(set(providers)) != len(providers)
        ):
            raise ValueError(f"route {prefix or 'default'}: providers must be a list of names")
        if any(r.prefix == prefix for r in routes):
            raise ValueError(f"route {prefix or 'default'} is listed twice")
        routes.append(Route(prefix, tuple(providers)))
    return routes


def route_for(routes: Sequence[Route], recipient: str) -> Route | None:
    best: Route | None = None
    for route in routes:
        if recipient.startswith(route.prefix) and (
            best is None or len(route.prefix) > len(best.prefix)
        ):
            best = route
    return best


class ProviderHealth:
    """Which providers are down, shared by the workers (Redis) or kept in this process."""

    def __init__(
        self,
        client: redis.Redis | None,
        *,
        failover_after: float,
        probe_every: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = client
        self.failover_after = failover_after
        self.probe_every = probe_every
        self.clock = clock
        self._failing: dict[str, float] = {}
        self._probed: dict[str, float] = {}
        self._lock = threading.Lock()

    def failing_since(self, name: str) -> float | None:
        if self.redis is None:
            return self._failing.get(name)
        value = self.redis.get(FAILING_KEY.format(name))
        return float(value) if value is not None else None

    def why_down(self, name: str) -> str | None:
        """Why ``name`` should not be given a call now (None: it may)."""
        if name == "smpp" and (self.redis is None or not handoff.is_bound(self.redis)):
            return "no SMPP bind"
        since = self.failing_since(name)
        if since is not None and self.clock() - since > self.failover_after:
            return f"failing for {self.clock() - since:.0f} s"
        return None

    def may_probe(self, name: str) -> bool:
        """One call per ``probe_every`` tries a provider that is down for failing."""
        if self.redis is not None:
            key = PROBE_KEY.format(name)
            return bool(self.redis.set(key, "1", nx=True, px=int(self.probe_every * 1000)))
        with self._lock:
            now = self.clock()
            if now - self._probed.get(name, 0.0) < self.probe_every:
                return False
            self._probed[name] = now
            return True

    def failed(self, name: str) -> None:
        """A call failed transiently: the failing time starts now, unless it already runs."""
        now = self.clock()
        if self.redis is not None:
            keep = int(max(3600, self.failover_after * 4))
            self.redis.set(FAILING_KEY.format(name), repr(now), nx=True, ex=keep)
            return
        with self._lock:
            self._failing.setdefault(name, now)

    def recovered(self, name: str) -> None:
        if self.redis is not None:
            if self.redis.delete(FAILING_KEY.format(name)):
                log.info("SMS provider %s answers again", name)
            return
        with self._lock:
            self._failing.pop(name, None)


class Paced:
    """A provider held to its own rate (a throttle shared by the workers)."""

    def __init__(
        self,
        provider: Provider,
        throttle: Throttle,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.provider = provider
        self.name = provider.name
        self.throttle = throttle
        self.clock = clock
        self.sleep = sleep
        self.max_recipients_per_call = getattr(provider, "max_recipients_per_call", None)
        self.rate_per_second = getattr(provider, "rate_per_second", 0.0)

    def send(self, message: str, recipients: list[str]) -> list[SendResult]:
        wait = self.throttle.reserve(len(recipients), self.clock())
        if wait > 0:
            self.sleep(wait)
        return self.provider.send(message, recipients)

    def parse_delivery_report(self, form: Mapping[str, str]) -> DeliveryReport:
        return self.provider.parse_delivery_report(form)

    def parse_inbound(self, form: Mapping[str, str]) -> InboundSms:
        return self.provider.parse_inbound(form)


class RoutingProvider:
    """The providers of SMS_ROUTES behind the one Provider interface."""

    name = "routed"

    def __init__(
        self,
        routes: Sequence[Route],
        providers: Mapping[str, Provider],
        health: ProviderHealth,
    ) -> None:
        missing = {p for r in routes for p in r.providers} - set(providers)
        if missing:
            raise ValueError(f"SMS_ROUTES names providers that are not built: {sorted(missing)}")
        self.routes = list(routes)
        self.providers = dict(providers)
        self.health = health
        # Delivery reports and inbound SMS by webhook: Africa's Talking's form fields (the
        # Android phone's come to /sms/android, SMPP's through the bind process).
        self._parser = providers.get("africastalking") or next(iter(providers.values()))

    @property
    def max_recipients_per_call(self) -> int | None:
        """The smallest call size among the providers that would take a call now (the first
        of each route that is up): SMPP's large hand-overs while the bind is up, the Android
        phone's small calls once it has taken over."""
        limits = []
        for route in self.routes:
            name = next(
                (n for n in route.providers if self.health.why_down(n) is None),
                route.providers[0],
            )
            limit = getattr(self.providers[name], "max_recipients_per_call", None)
            if limit is not None:
                limits.append(int(limit))
        return min(limits) if limits else None

    def send(self, message: str, recipients: list[str]) -> list[SendResult]:
        by_route: dict[Route | None, list[str]] = {}
        for recipient in recipients:
            by_route.setdefault(route_for(self.routes, recipient), []).append(recipient)
        results: list[SendResult] = []
        for route, group in by_route.items():
            if route is None:
                results.extend(
                    SendResult(r, "permanent", reason="no route in SMS_ROUTES for this number")
                    for r in group
                )
            else:
                results.extend(self._send_route(route, message, group))
        return results

    def _send_route(self, route: Route, message: str, recipients: list[str]) -> list[SendResult]:
        results: list[SendResult] = []
        pending = list(recipients)
        reason = "no provider of the route is up"
        last = len(route.providers) - 1
        for i, name in enumerate(route.providers):
            down = self.health.why_down(name)
            if down is not None:
                reason = f"{name}: {down}"
                if down == "no SMPP bind" or not self.health.may_probe(name):
                    if i < last:
                        log.info("%s is down (%s): its messages go to the next route", name, down)
                    continue
            try:
                answered = self.providers[name].send(message, pending)
            except ProviderError as error:
                self.health.failed(name)
                reason = f"{name}: {error}"
                if self.health.why_down(name) is not None:
                    continue  # failing long enough: the next provider takes these
                break  # a blip: back to the outbox, retried on this provider
            transient = [r for r in answered if r.outcome == "transient"]
            results.extend(replace(r, provider=name) for r in answered if r.outcome != "transient")
            if len(transient) < len(answered):
                self.health.recovered(name)
            elif transient:
                self.health.failed(name)
            pending = [r.recipient for r in transient]
            if not pending:
                return results
            reason = f"{name}: {transient[0].reason}"
            if self.health.why_down(name) is None:
                break
        if len(pending) < len(recipients):
            log.debug("route %s: %d recipient(s) wait", route.prefix or "default", len(pending))
        return results + [SendResult(r, "transient", reason=reason) for r in pending]

    def parse_delivery_report(self, form: Mapping[str, str]) -> DeliveryReport:
        return self._parser.parse_delivery_report(form)

    def parse_inbound(self, form: Mapping[str, str]) -> InboundSms:
        return self._parser.parse_inbound(form)

    def down(self) -> dict[str, str]:
        """Each provider that is down now, and why (for /healthz and /metrics)."""
        found = {}
        for name in self.providers:
            why = self.health.why_down(name)
            if why is not None:
                found[name] = why
        return found

    def routes_down(self, down: Mapping[str, str]) -> list[Route]:
        """The routes none of whose providers is up: destinations no SMS can reach now."""
        return [r for r in self.routes if all(p in down for p in r.providers)]


def messages_per_second(
    provider: Provider, settings: Mapping[str, Any], segments: int, to: str = "+62"
) -> tuple[str, float]:
    """How fast messages of ``segments`` parts to numbers starting ``to`` leave now, and through
    which provider: the first of their route that is up (or the provider), at the lowest of
    its own rate (the phone's, the bind's per submit) and SMS_RATE_PER_SECOND. 0: no limit
    is set. For the console's "about N minutes"."""
    if isinstance(provider, RoutingProvider):
        route = route_for(provider.routes, to)
        names = route.providers if route is not None else ()
        name = next((n for n in names if provider.health.why_down(n) is None), None)
        name = name or (names[0] if names else "")
        chosen: Provider | None = provider.providers.get(name)
    else:
        name, chosen = provider.name, provider
    rates = [float(settings["SMS_RATE_PER_SECOND"] or 0)]
    if name == "smpp":
        rates.append(float(settings["SMPP_RATE_PER_SECOND"] or 0) / max(1, segments))
    rates.append(float(getattr(chosen, "rate_per_second", 0) or 0))
    limits = [r for r in rates if r > 0]
    return name, min(limits) if limits else 0.0
