"""Africa's Talking, through its own SDK (africastalking 2.0.3).

The SDK fixes its base URL; the one place we change it is ``_point_at`` below, which sets the
service's private ``_baseUrl`` after construction (used for the local fake server in tests, or
a proxy). Everything else is the SDK's own code path: the same form fields, headers, and errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import requests
from africastalking.Service import AfricasTalkingException, validate_phone
from africastalking.SMS import SMSService

from workers.providers import DeliveryReport, InboundSms, ProviderError, SendResult

SENT_CODES = {100, 101, 102}  # Processed, Sent, Queued
TRANSIENT_CODES = {500, 501, 502}  # InternalServerError, GatewayError, RejectedByGateway
# 401 RiskHold ... 407 CouldNotRoute, and anything unknown: not retried as-is.


class AfricasTalkingProvider:
    name = "africastalking"

    def __init__(
        self,
        *,
        username: str,
        api_key: str,
        sender_id: str | None = None,
        base_url: str | None = None,
        timeout: tuple[float, float] = (3.05, 9.05),
    ) -> None:
        if not username or not api_key:
            raise ValueError("Africa's Talking needs AT_USERNAME and AT_API_KEY")
        self.service = SMSService(username, api_key)
        if base_url:
            _point_at(self.service, base_url)
        self.sender_id = sender_id
        self.timeout = timeout

    def send(self, message: str, recipients: list[str]) -> list[SendResult]:
        # The SDK refuses the whole call if one number is not +E.164: refuse that one alone.
        sendable = [r for r in recipients if validate_phone(r)]
        refused = {
            r: SendResult(r, "permanent", reason="403 InvalidPhoneNumber (not E.164)")
            for r in recipients
            if r not in sendable
        }
        if not sendable:
            return [refused[r] for r in recipients]
        try:
            reply = self.service.send(
                message, sendable, sender_id=self.sender_id, timeout=self.timeout
            )
        except AfricasTalkingException as error:  # a non-2xx reply
            raise ProviderError(f"provider refused the request: {str(error)[:200]}") from error
        except requests.RequestException as error:  # network, timeout
            raise ProviderError(f"provider unreachable: {type(error).__name__}") from error
        sent = {r.recipient: r for r in _results(_as_json(reply), sendable)}
        return [sent.get(r) or refused[r] for r in recipients]

    def parse_delivery_report(self, form: Mapping[str, str]) -> DeliveryReport:
        return parse_delivery_report(form)

    def parse_inbound(self, form: Mapping[str, str]) -> InboundSms:
        return parse_inbound(form)


# The longest value each callback field may have (our columns, and generous for the rest).
MAX_ID = 64
MAX_STATUS = 24
MAX_FAILURE_REASON = 60
MAX_PHONE = 32
MAX_INBOUND_TEXT = 1600  # ten concatenated segments: more than any resident types
MAX_SHORT_FIELD = 128  # to, linkId, date, networkCode, retryCount


def _too_long(form: Mapping[str, str], limits: Mapping[str, int]) -> None:
    for name, limit in limits.items():
        if len(form.get(name) or "") > limit:
            raise ValueError(f"{name} is too long")


def parse_delivery_report(form: Mapping[str, str]) -> DeliveryReport:
    """Africa's Talking's delivery-report callback fields; ValueError if malformed (a
    required field missing, or any field longer than it can be)."""
    message_id, status = form.get("id", "").strip(), form.get("status", "").strip()
    if not message_id or not status or len(message_id) > MAX_ID or len(status) > MAX_STATUS:
        raise ValueError("a delivery report needs id and status")
    _too_long(
        form,
        {
            "phoneNumber": MAX_PHONE,
            "failureReason": MAX_FAILURE_REASON,
            "networkCode": MAX_SHORT_FIELD,
            "retryCount": MAX_SHORT_FIELD,
        },
    )
    return DeliveryReport(
        message_id=message_id,
        status=status,
        phone=(form.get("phoneNumber") or "").strip() or None,
        failure_reason=(form.get("failureReason") or "").strip() or None,
    )


def parse_inbound(form: Mapping[str, str]) -> InboundSms:
    """Africa's Talking's inbound-SMS callback fields; ValueError if malformed. ``text`` is
    required (it may be empty: an empty SMS); without it there is nothing to answer."""
    message_id, sender = form.get("id", "").strip(), form.get("from", "").strip()
    if not message_id or not sender or len(message_id) > MAX_ID:
        raise ValueError("an inbound message needs id and from")
    if "text" not in form:
        raise ValueError("an inbound message needs text")
    _too_long(
        form,
        {
            "from": MAX_PHONE,
            "text": MAX_INBOUND_TEXT,
            "to": MAX_SHORT_FIELD,
            "linkId": MAX_SHORT_FIELD,
            "date": MAX_SHORT_FIELD,
            "networkCode": MAX_SHORT_FIELD,
        },
    )
    return InboundSms(
        message_id=message_id,
        sender=sender,
        to=form.get("to", ""),
        text=form["text"],
        link_id=form.get("linkId") or None,
    )


def _point_at(service: SMSService, base_url: str) -> None:
    """Send to ``base_url`` (e.g. http://127.0.0.1:8765) instead of api.africastalking.com."""
    service._baseUrl = base_url.rstrip("/") + "/version1"


def _as_json(reply: Any) -> Any:
    """The SDK parses JSON only for the exact content type application/json; else a str."""
    if isinstance(reply, str):
        try:
            return json.loads(reply)
        except ValueError as error:
            raise ProviderError(f"unreadable provider reply: {reply[:100]!r}") from error
    return reply


def _results(body: Any, recipients: list[str]) -> list[SendResult]:
    try:
        entries = body["SMSMessageData"]["Recipients"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise TypeError("Recipients is not a list of objects")
    except (KeyError, TypeError) as error:
        raise ProviderError(f"unexpected provider reply: {str(body)[:200]}") from error
    by_number: dict[str, SendResult] = {}
    for entry in entries:
        number = str(entry.get("number", ""))
        try:
            code = int(entry.get("statusCode", 0))
        except (TypeError, ValueError):
            code = 0
        reason = f"{code} {entry.get('status', '')}".strip()
        if code in SENT_CODES:
            result = SendResult(number, "sent", entry.get("messageId"))
        elif code in TRANSIENT_CODES:
            result = SendResult(number, "transient", reason=reason)
        else:
            result = SendResult(number, "permanent", reason=reason)
        by_number[number] = result
    # A recipient the reply does not mention was not accepted: try again later.
    return [
        by_number.get(r) or SendResult(r, "transient", reason="missing from provider reply")
        for r in recipients
    ]
