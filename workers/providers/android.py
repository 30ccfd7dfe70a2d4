"""An office Android phone with a local SIM, running "SMS Gateway for Android" (capcom6), through
its own Python client (android-sms-gateway 4.3.3): local-server mode (the phone's address in the
office LAN) or cloud mode (api.sms-gate.app), by ANDROID_BASE_URL.

One message per recipient, with an id of ours: the phone reports each message's state by its
id (webhooks ``sms:sent``, ``sms:delivered``, ``sms:failed``), so the id is what the outbox
matches reports on — one id per outbox row, as for every provider. A SIM sends slowly: the
provider keeps ANDROID_RATE_PER_MINUTE itself (``rate_per_second``, read by the sender) and
asks for small calls (``max_recipients_per_call``: about ten seconds of sending), so claimed
messages never wait long in 'sending'.

The webhooks the phone posts are signed: HMAC-SHA256 of the raw body followed by the
``X-Timestamp`` header, hex, in ``X-Signature``. ``verify_signature`` and ``parse_event`` are
used by gateway/webhooks/android.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from android_sms_gateway import APIClient, Message, TextMessage, Webhook, WebhookEvent
from android_sms_gateway.enums import ProcessState
from android_sms_gateway.errors import APIError
from android_sms_gateway.http import RequestsHttpClient

from workers.providers import CALL_SECONDS, DeliveryReport, InboundSms, ProviderError, SendResult
from workers.providers.africastalking import (
    MAX_FAILURE_REASON,
    MAX_ID,
    MAX_INBOUND_TEXT,
    MAX_PHONE,
    parse_delivery_report,
    parse_inbound,
)

# The phone's message states in Africa's Talking's report words, which storage/outbox/reports.py
# applies: Sent is interim, Success delivered, Failed final.
REPORT_STATUS = {"sms:sent": "Sent", "sms:delivered": "Success", "sms:failed": "Failed"}
EVENTS = (*REPORT_STATUS, "sms:received")
STALE_SECONDS = 300  # a webhook signed longer ago (or ahead) than this is refused


class _TimedSession(requests.Session):
    """The client passes no timeout: a phone that stopped answering must not hold a worker."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(*args, **kwargs)


def make_client(
    base_url: str, username: str, password: str, timeout: tuple[float, float] = (3.05, 10)
) -> APIClient:
    if not base_url or not password:
        raise ValueError("the Android phone needs ANDROID_BASE_URL and ANDROID_PASSWORD")
    http = RequestsHttpClient(_TimedSession(timeout))
    return APIClient(username or None, password, base_url=base_url, http=http)


class AndroidProvider:
    name = "android"

    def __init__(
        self,
        *,
        base_url: str,
        username: str,
        password: str,
        rate_per_minute: float,
        timeout: tuple[float, float] = (3.05, 10),
    ) -> None:
        self.client = make_client(base_url, username, password, timeout)
        self.rate_per_second = rate_per_minute / 60 if rate_per_minute > 0 else 0.0
        self.max_recipients_per_call = (
            max(1, int(rate_per_minute * CALL_SECONDS / 60)) if rate_per_minute > 0 else None
        )

    def send(self, message: str, recipients: list[str]) -> list[SendResult]:
        results: list[SendResult] = []
        for recipient in recipients:
            try:
                results.append(self._send_one(message, recipient))
            except ProviderError as error:
                if not results:
                    raise  # nothing went: the whole call failed
                # Some went: the rest wait for a retry, those sent stay sent.
                results.extend(
                    SendResult(r, "transient", reason=str(error))
                    for r in recipients[len(results) :]
                )
                break
        return results

    def _send_one(self, text: str, recipient: str) -> SendResult:
        message_id = f"adm-{uuid.uuid4().hex}"
        try:
            state = self.client.send(
                Message(
                    phone_numbers=[recipient],
                    text_message=TextMessage(text=text),
                    with_delivery_report=True,
                    id=message_id,
                )
            )
        except APIError as error:
            status = error.status_code or 0
            if status == 400:  # the phone refused this message (a number it cannot send to)
                return SendResult(recipient, "permanent", reason=f"Android 400: {error}"[:200])
            # 401/403: a wrong password is retried like an outage (docs/decisions.md); 5xx too.
            raise ProviderError(f"Android phone answered {status}") from error
        except requests.RequestException as error:
            raise ProviderError(f"Android phone unreachable: {type(error).__name__}") from error
        except (KeyError, TypeError, ValueError) as error:
            raise ProviderError(f"unreadable answer from the Android phone: {error}") from error
        if state.state == ProcessState.Failed:
            reasons = [r.error for r in state.recipients if r.error]
            return SendResult(recipient, "permanent", reason=(reasons or ["Failed"])[0][:200])
        return SendResult(recipient, "sent", state.id or message_id)

    def parse_delivery_report(self, form: Mapping[str, str]) -> DeliveryReport:
        return parse_delivery_report(form)

    def parse_inbound(self, form: Mapping[str, str]) -> InboundSms:
        return parse_inbound(form)


# --- webhooks -------------------------------------------------------------------------------


def sign(key: str, body: bytes, timestamp: str) -> str:
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


def verify_signature(key: str, body: bytes, timestamp: str, signature: str, now: float) -> str:
    """ "" if the webhook is the phone's and fresh; else why not."""
    if not key:
        return "ANDROID_SIGNING_KEY is not set: Android webhooks are refused"
    if not timestamp or not signature:
        return "X-Signature and X-Timestamp are required"
    if not (timestamp.isascii() and timestamp.isdigit()):
        return "X-Timestamp is not a number"
    at = int(timestamp)
    if abs(now - at) > STALE_SECONDS:
        return "X-Timestamp is stale"
    given = signature.strip().lower().encode("utf-8", "replace")  # bytes: any header compares
    if not hmac.compare_digest(sign(key, body, timestamp).encode(), given):
        return "X-Signature does not match"
    return ""


@dataclass(frozen=True)
class AndroidEvent:
    event: str
    report: DeliveryReport | None = None
    inbound: InboundSms | None = None


def _field(payload: Mapping[str, Any], name: str, limit: int, required: bool = True) -> str:
    value = payload.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError(f"payload.{name} is missing or not text")
    if len(value) > limit:
        raise ValueError(f"payload.{name} is too long")
    return value


def parse_event(body: bytes) -> AndroidEvent:
    """A webhook the phone posted: a state of one of our messages, or a resident's SMS.
    ValueError if malformed; an event we do not handle comes back without report or inbound.

    An inbound message is known by the webhook's own ``id``: the app's ``messageId`` is made
    from the text and is not unique (two residents texting "1" could share it), while a
    retried webhook keeps its ``id`` — which is what the duplicate check needs."""
    try:
        envelope = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError("the body is not JSON") from error
    if not isinstance(envelope, dict) or not isinstance(envelope.get("payload"), dict):
        raise ValueError("a webhook needs event and payload")
    event, payload = envelope.get("event"), envelope["payload"]
    if not isinstance(event, str):
        raise ValueError("a webhook needs event and payload")
    if event in REPORT_STATUS:
        return AndroidEvent(
            event,
            report=DeliveryReport(
                message_id=_field(payload, "messageId", MAX_ID),
                status=REPORT_STATUS[event],
                phone=_field(payload, "phoneNumber", MAX_PHONE, required=False) or None,
                failure_reason=(
                    _field(payload, "reason", 10_000, required=False)[:MAX_FAILURE_REASON] or None
                    if event == "sms:failed"
                    else None
                ),
            ),
        )
    if event == "sms:received":
        event_id = envelope.get("id")
        if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > MAX_ID - 8:
            raise ValueError("an sms:received webhook needs its id")
        text = payload.get("message")
        if not isinstance(text, str):
            raise ValueError("payload.message is missing or not text")
        if len(text) > MAX_INBOUND_TEXT:
            raise ValueError("payload.message is too long")
        return AndroidEvent(
            event,
            inbound=InboundSms(
                message_id=f"android:{event_id}",
                sender=_field(payload, "phoneNumber", MAX_PHONE),
                to=_field(payload, "recipient", MAX_PHONE, required=False),
                text=text,
                link_id=None,
            ),
        )
    return AndroidEvent(event)


def register_webhooks(client: APIClient, url: str) -> list[Webhook]:
    """Point the phone's (or the cloud's) webhooks for our events at ``url``. Ours registered
    before at another address (a path ending ``/sms/android``: the host or token changed) are
    removed; anyone else's are left alone. Returns what is registered for us now."""
    ours = {WebhookEvent(e) for e in EVENTS}
    wanted = set(ours)
    kept: list[Webhook] = []
    for hook in client.get_webhooks():
        if hook.event in wanted and hook.url == url:
            kept.append(hook)
            wanted.discard(hook.event)
        elif hook.event in ours and hook.id and hook.url.split("?")[0].endswith("/sms/android"):
            client.delete_webhook(hook.id)
    for event in sorted(wanted, key=lambda e: e.value):
        kept.append(client.create_webhook(Webhook(id=None, url=url, event=event)))
    return kept
