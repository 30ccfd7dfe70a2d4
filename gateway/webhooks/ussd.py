"""POST /ussd — Africa's Talking's USSD callback (docs/product.md) — and POST /ussd/events.

A hop costs one read and one write of the session store; the database is touched only when the
screen needs it (a look-up, a booking). The reply is ``text/plain`` starting ``CON `` or
``END ``; bad requests get a 400 with a one-line reason; nothing the caller types can cause an
error page, and an unexpected failure still answers the phone with a polite ``END``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.wsgi import ClosingIterator

from gateway.caller import caller_profile
from gateway.phones import to_e164
from gateway.runtime import Runtime, runtime
from gateway.webhooks import fields
from gateway.webhooks.auth import require_webhook_auth
from gateway.webhooks.fields import FieldError, callback_form
from storage import queries
from storage.outages import outages

log = logging.getLogger(__name__)

bp = Blueprint("ussd", __name__)
bp.before_request(require_webhook_auth)

MAX_SESSION_ID = 128
MAX_TEXT = 2000
MAX_SERVICE_CODE = 32  # the session log's columns
MAX_NETWORK_CODE = 16
MAX_PROVIDER_STATUS = 16
MAX_HOPS = 10_000  # a USSD session lasts minutes: a few dozen hops at most
MAX_DURATION_MS = 86_400_000
# Fields of an end-of-session notification that may hold line breaks: our last screen, the
# gateway's error text, the last input.
EVENT_TEXTS = ("lastAppResponse", "errorMessage", "input")
SIMULATOR_NETWORK = "simulator"  # the phone simulator's calls (gateway/simulator.py)
REPLIES_KEPT = 4  # recent (text → reply) pairs kept to answer a repeated callback identically
FAILURE_REPLY = "END Maaf, layanan sedang gangguan. Silakan coba lagi nanti."


def _bad_request(reason: str) -> Response:
    return Response(reason + "\n", status=400, mimetype="text/plain")


def _plain(text: str) -> Response:
    return Response(text, mimetype="text/plain")


@bp.post("/ussd")
def ussd_hop() -> Response:
    form = callback_form()
    session_id = fields.text(form, "sessionId", MAX_SESSION_ID, required=True)
    phone = to_e164(form.get("phoneNumber", ""))
    if phone is None:
        return _bad_request("phoneNumber is missing or not a valid phone number")
    text = fields.text(form, "text", MAX_TEXT, strip=False)
    service_code = fields.text(form, "serviceCode", MAX_SERVICE_CODE)
    network_code = fields.text(form, "networkCode", MAX_NETWORK_CODE)
    rt = runtime()
    response = _plain(
        handle_hop(
            rt,
            session_id=session_id,
            phone=phone,
            text=text,
            service_code=service_code,
            network_code=network_code,
            settle_later=True,
        )
    )  # settled by settle_before_replying
    response.call_on_close(rt.session_log.flush_after_reply)
    return response


def handle_hop(
    rt: Runtime,
    *,
    session_id: str,
    phone: str,
    text: str,
    service_code: str = "",
    network_code: str = "",
    settle_later: bool = False,
) -> str:
    """One USSD hop: the reply for ``text`` in session ``session_id`` of ``phone``.
    ``settle_later``: the call's state is sent to the store, and confirmed by
    ``rt.store.settle()``, which must run before the reply leaves (``settle_before_replying``)."""
    engine = rt.ussd_engine
    call, cached_profile = rt.store.load(phone)
    logs: list[dict[str, Any]] = []
    if call is not None and call.get("sid") == session_id:
        replies: dict[str, str] = call["replies"]
        if text in replies:  # the gateway retried: same answer, nothing changes
            return replies[text]
        services = rt.services(phone, caller_profile(rt.db, rt.store, phone, cached_profile))
        turn = engine.advance(services, call["state"], newest_input(call["last_text"], text))
    else:
        profile = caller_profile(rt.db, rt.store, phone, cached_profile)
        previous = call["state"] if call else None
        if call is not None and not call["state"].get("ended"):
            logs.append(_log_record(call, "dropped"))
        services = rt.services(phone, profile)
        turn = engine.begin(services, profile.get("lang") or "", previous)
        call = {
            "sid": session_id,
            "phone": phone,
            "started_at": _now(),
            "service_code": service_code,
            "network_code": network_code,
            "replies": {},
        }
        replies = {}
    reply = ("END " if turn.end else "CON ") + turn.text
    recent = list(replies.items())[-(REPLIES_KEPT - 1) :]
    call.update(state=turn.state, last_text=text, replies={**dict(recent), text: reply})
    if turn.end:
        logs.append(_log_record(call, "completed"))
    rt.store.save(phone, call, logs, settle_later=settle_later)
    return reply


def settle_before_replying(app: Flask) -> None:
    """Around the whole app (WSGI): once Flask has built the response and before the server
    is handed its status, confirm the hop's state write (``handle_hop(settle_later=True)``).
    The caller never sees a screen whose state was not saved; if the write failed, they get
    the polite failure ``END`` instead.

    Why not in the view: the write's reply then arrives while Flask finishes the response
    (hooks, headers, context teardown), and is usually waiting when it is read -- on a busy
    2-core machine a blocked read costs a hop more than the rest of the Redis round trip.

    The same wrapper bounds the request's session-store connection: ``hold()`` before, and
    ``settle()`` (which gives it back) after, on every path."""
    inner = app.wsgi_app
    store = runtime(app).store

    def settled(environ: dict[str, Any], start_response: Any) -> Any:
        started: list[Any] = []

        def hold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers, exc_info]  # passed on once the write is settled
            return _no_write

        store.hold()
        try:
            result = inner(environ, hold)
        except BaseException:
            _settle_quietly(store)  # no reply of this request's writes left for the next one
            raise
        try:
            store.settle()
        except Exception as error:
            if not outages.failed(error):
                log.exception("USSD hop state not saved: answering with the failure reply")
            body = FAILURE_REPLY.encode()
            start_response(
                "200 OK",
                [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
            )
            # the unsent response is closed after this one has left (its close runs the
            # session-log flush, which no caller should wait for)
            return ClosingIterator([body], getattr(result, "close", None))
        start_response(*started)  # (Flask always starts its response before returning it)
        return result

    app.wsgi_app = settled  # type: ignore[method-assign]


def _settle_quietly(store: Any) -> None:
    try:
        store.settle()
    except Exception as error:
        if not outages.failed(error):
            log.exception("USSD hop state write failed while the request failed too")


def _no_write(_data: bytes) -> None:
    raise RuntimeError("the legacy WSGI write() is not available here: return the body")


def newest_input(last_text: str, text: str) -> str:
    """What the caller typed this hop. AT sends every input so far joined by ``*``; the server
    knows what it already received, so an input containing ``*`` survives intact."""
    if last_text and text.startswith(last_text + "*"):
        return text[len(last_text) + 1 :]
    if not last_text:
        return text
    return text.rsplit("*", 1)[-1]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _log_record(call: dict[str, Any], outcome: str) -> dict[str, Any]:
    state = call.get("state") or {}
    return {
        "session_id": call["sid"],
        "phone": call.get("phone"),
        "service_code": call.get("service_code"),
        "network_code": call.get("network_code"),
        "journey": state.get("journey"),
        "hops": state.get("hops", 0),
        "outcome": outcome,
        # where the caller was at the end (a hang-up's last screen: the dashboard's funnel),
        # and whether the phone simulator made the call: both already in the hop's record
        "last_screen": str(state.get("screen") or "")[:40] or None,
        "simulator": call.get("network_code") == SIMULATOR_NETWORK,
        "started_at": call.get("started_at"),
        "ended_at": _now(),
    }


@bp.post("/ussd/events")
def ussd_event() -> Response:
    """End-of-session notification. Recorded for analytics; nothing depends on it."""
    form = callback_form(multiline=EVENT_TEXTS)
    session_id = form.get("sessionId", "").strip()
    phone = to_e164(form.get("phoneNumber", ""))
    if not session_id or len(session_id) > MAX_SESSION_ID or phone is None:
        return _bad_request("sessionId and a valid phoneNumber are required")
    status = fields.text(form, "status", MAX_PROVIDER_STATUS) or None
    hops = fields.integer(form, "hopsCount", 0, MAX_HOPS)
    fields.integer(form, "durationInMillis", 0, MAX_DURATION_MS)  # not kept; checked all the same
    rt = runtime()
    call, _ = rt.store.load(phone)
    record: dict[str, Any] = {
        "session_id": session_id,
        "phone": phone,
        "provider_status": status,
        "ended_at": _now(),
        "outcome": "completed" if status == "Success" else "dropped",
    }
    if call is not None and call.get("sid") == session_id:
        record = {**_log_record(call, record["outcome"]), "provider_status": status}
    if hops is not None:
        record["hops"] = hops
    with rt.db.begin() as session:
        queries.record_sessions(session, [record])
    return _plain("OK")


@bp.errorhandler(FieldError)
def bad_field(error: FieldError) -> Response:
    return fields.refuse(error)


@bp.errorhandler(Exception)
def answer_anyway(error: Exception) -> Response:
    """Whatever broke, the phone gets a valid closing screen, not an error page."""
    if isinstance(error, HTTPException) and error.code and error.code < 500:
        return (
            _bad_request(error.name)
            if error.code == 400
            else Response(f"{error.name}\n", status=error.code, mimetype="text/plain")
        )
    if not outages.failed(error):  # Redis or the database down: counted, not a traceback
        log.exception("USSD hop failed")
    if request.endpoint == "ussd.ussd_event":  # not a phone: say it was not recorded
        return Response("temporarily unavailable, try again\n", status=503, mimetype="text/plain")
    return _plain(FAILURE_REPLY)
