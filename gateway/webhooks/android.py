"""POST /sms/android — the webhooks of an office Android phone running "SMS Gateway for Android"
(workers/providers/android.py): the states of our messages (``sms:sent``, ``sms:delivered``,
``sms:failed``) go to the outbox through ``storage/outbox/reports.py`` as every provider's
reports do; a resident's SMS (``sms:received``) goes through ``gateway/webhooks/sms.py``
``receive_sms``, the one inbound path (keywords, conversations, loop guard, reply cap), and its
answer leaves through the outbox and SMS_ROUTES like any other.

Every request must carry the app's signature (HMAC-SHA256 of the raw body and ``X-Timestamp``
with ANDROID_SIGNING_KEY, in ``X-Signature``) and a timestamp within five minutes; the webhook
token and address list (``auth``) apply as on the other webhooks. Refusals are 4xx with one
line; an event we do not handle is answered 200 so the phone does not retry it for two days.
Register the URL on the phone with ``flask --app gateway android webhooks``.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, request

from gateway.phones import to_e164
from gateway.runtime import runtime
from gateway.webhooks.auth import require_webhook_auth
from gateway.webhooks.sms import receive_sms
from storage import outbox
from storage.models import utcnow
from workers.providers.android import parse_event, verify_signature

bp = Blueprint("android", __name__)
bp.before_request(require_webhook_auth)


def _plain(text: str, status: int = 200) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain")


@bp.post("/sms/android")
def android_webhook() -> Response:
    body = request.get_data(cache=False)
    refused = verify_signature(
        current_app.config["ANDROID_SIGNING_KEY"],
        body,
        request.headers.get("X-Timestamp", ""),
        request.headers.get("X-Signature", ""),
        time.time(),
    )
    if refused:
        return _plain(refused, 403 if "required" not in refused else 401)
    try:
        event = parse_event(body)
    except ValueError as error:
        return _plain(str(error), 400)
    rt = runtime()
    if event.report is not None:
        report = event.report
        with rt.db.begin() as session:
            result = outbox.record_delivery_report(
                session,
                provider_id=report.message_id,
                status=report.status,
                failure_reason=report.failure_reason,
                phone=to_e164(report.phone or ""),
                now=utcnow(),
            )
        return _plain(result)
    if event.inbound is not None:
        answer = receive_sms(rt, event.inbound)
        if answer is None:
            return _plain("phoneNumber is not a valid phone number", 400)
        return _plain(answer)
    return _plain(f"ignored: {event.event[:40]}")
