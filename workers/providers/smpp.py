"""SMPP, as seen from a worker: each send call is handed to the one process that holds the bind
(workers/smpp/, ``flask --app gateway smpp``) and answered by it, recipient by recipient, with
the SMSC's message ids or its refusals. Delivery receipts and residents' SMS reach the outbox
and the inbound handling through that process, not through the webhooks."""

from __future__ import annotations

from collections.abc import Mapping

import redis

from workers.providers import CALL_SECONDS, DeliveryReport, InboundSms, ProviderError, SendResult
from workers.providers.africastalking import parse_delivery_report, parse_inbound
from workers.smpp import handoff
from workers.smpp.encoding import encode


class SmppProvider:
    name = "smpp"

    def __init__(
        self, redis_url: str, *, timeout: float, rate: float, recipients_per_call: int
    ) -> None:
        if not redis_url:
            raise ValueError(
                "SMS_PROVIDER = 'smpp' needs REDIS_URL (workers reach the bind through it)"
            )
        self.timeout = timeout
        self.rate = rate
        # Large hand-overs keep the bind busy while a worker records the last answers and
        # claims the next messages; small enough at a low rate that the worker's wait stays
        # short (and far below SMS_STUCK_AFTER_SECONDS).
        per_call = max(1, recipients_per_call)
        self.max_recipients_per_call = (
            min(per_call, max(1, int(rate * CALL_SECONDS))) if rate > 0 else per_call
        )
        # Its own connection: a worker waits here longer than the shared pool's socket timeout.
        self.redis = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=None)

    def send(self, message: str, recipients: list[str]) -> list[SendResult]:
        submits = len(encode(message)) * len(recipients)
        timeout = self.timeout + (submits / self.rate if self.rate > 0 else 0)
        try:
            answers = handoff.ask(self.redis, message, recipients, timeout)
        except redis.RedisError as error:
            raise ProviderError(f"SMPP hand-off failed: {type(error).__name__}") from error
        if answers is None:
            raise ProviderError("no answer from the SMPP bind process in time")
        return [
            SendResult(a["recipient"], a["outcome"], a.get("message_id"), a.get("reason"))
            for a in answers
        ]

    def parse_delivery_report(self, form: Mapping[str, str]) -> DeliveryReport:
        return parse_delivery_report(form)

    def parse_inbound(self, form: Mapping[str, str]) -> InboundSms:
        return parse_inbound(form)
