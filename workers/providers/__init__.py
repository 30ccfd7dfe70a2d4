"""SMS providers behind one small interface: send a batch, parse a delivery report, parse an
inbound message. Africa's Talking's conventions are the wire format (docs/product.md); another
provider is one more module here. SMPP (an Indonesian aggregator) is one here too, which hands
its calls to the process holding the bind (workers/smpp/)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Outcome = Literal["sent", "transient", "permanent"]


@dataclass(frozen=True)
class SendResult:
    """What happened to one recipient of a send call."""

    recipient: str
    outcome: Outcome  # sent: accepted; transient: try again later; permanent: do not retry
    message_id: str | None = None
    reason: str | None = None
    provider: str | None = None  # who answered, when several may (routing): else the sender's


@dataclass(frozen=True)
class DeliveryReport:
    message_id: str
    status: str  # Success | Sent | Submitted | Buffered | Rejected | Failed | ...
    phone: str | None
    failure_reason: str | None


@dataclass(frozen=True)
class InboundSms:
    message_id: str
    sender: str
    to: str
    text: str
    link_id: str | None


# A provider with a rate of its own (the Android phone, the SMPP bind) takes calls of at most
# about this many seconds of that rate: claimed messages do not wait long in 'sending'.
CALL_SECONDS = 10


class ProviderError(Exception):
    """The whole call failed in a way worth retrying (network, timeout, 5xx, unreadable reply)."""


class Provider(Protocol):
    name: str

    def send(self, message: str, recipients: list[str]) -> list[SendResult]:
        """Send one text to many recipients in one call; a result for every recipient.
        Raises ProviderError when the call as a whole failed and can be retried."""
        ...

    def parse_delivery_report(self, form: Mapping[str, str]) -> DeliveryReport:
        """Raises ValueError on a malformed report."""
        ...

    def parse_inbound(self, form: Mapping[str, str]) -> InboundSms:
        """Raises ValueError on a malformed message."""
        ...


def make_provider(settings: Mapping[str, Any], name: str | None = None) -> Provider:
    """The provider ``name`` (default: SMS_PROVIDER), built from the settings."""
    name = name or settings["SMS_PROVIDER"]
    if name == "console":
        from workers.providers.console import ConsoleProvider

        return ConsoleProvider()
    if name == "africastalking":
        from workers.providers.africastalking import AfricasTalkingProvider

        return AfricasTalkingProvider(
            username=settings["AT_USERNAME"],
            api_key=settings["AT_API_KEY"],
            sender_id=settings["AT_SENDER_ID"] or None,
            base_url=settings["AT_BASE_URL"] or None,
        )
    if name == "smpp":
        from workers.providers.smpp import SmppProvider

        timeout = float(settings["SMPP_SUBMIT_TIMEOUT_SECONDS"])
        if float(settings["SMS_STUCK_AFTER_SECONDS"]) <= timeout + 10:
            # The sweep would take back messages the bind may still submit: sent twice.
            raise ValueError(
                "SMS_STUCK_AFTER_SECONDS must be well above SMPP_SUBMIT_TIMEOUT_SECONDS"
            )
        return SmppProvider(
            settings["REDIS_URL"],
            timeout=float(settings["SMPP_SUBMIT_TIMEOUT_SECONDS"]),
            rate=float(settings["SMPP_RATE_PER_SECOND"]),
            recipients_per_call=int(settings["SMPP_RECIPIENTS_PER_CALL"]),
        )
    if name == "android":
        from workers.providers.android import AndroidProvider

        return AndroidProvider(
            base_url=settings["ANDROID_BASE_URL"],
            username=settings["ANDROID_USERNAME"],
            password=settings["ANDROID_PASSWORD"],
            rate_per_minute=float(settings["ANDROID_RATE_PER_MINUTE"]),
        )
    raise ValueError(f"unknown SMS_PROVIDER '{name}' (console, africastalking, smpp or android)")
