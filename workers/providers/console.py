"""The embedded default's provider: logs each message and reports it sent, so demos and the
phone simulator show what would have gone out. Delivery reports and inbound messages use
Africa's Talking's field names, like the webhooks."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

from common.privacy import mask_phone
from workers.providers import DeliveryReport, InboundSms, SendResult
from workers.providers.africastalking import parse_delivery_report, parse_inbound

log = logging.getLogger(__name__)


class ConsoleProvider:
    name = "console"

    def send(self, message: str, recipients: list[str]) -> list[SendResult]:
        results = []
        for recipient in recipients:
            message_id = f"console-{uuid.uuid4().hex[:16]}"
            log.info("SMS to %s (%s): %s", mask_phone(recipient), message_id, message)
            results.append(SendResult(recipient, "sent", message_id))
        return results

    def parse_delivery_report(self, form: Mapping[str, str]) -> DeliveryReport:
        return parse_delivery_report(form)

    def parse_inbound(self, form: Mapping[str, str]) -> InboundSms:
        return parse_inbound(form)
