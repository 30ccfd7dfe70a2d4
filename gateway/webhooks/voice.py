"""POST /voice — Africa's Talking's voice callback (issue 13) — and the prompts' audio.

A missed call to the voice number is rejected at no cost to the caller and answered with a call
back (VOICE_INBOUND = "callback"): a ``voice_calls`` row, placed by a job (workers/voice.py).
When the resident picks up, Africa's Talking posts here (``isActive=1``, ``Outbound``) and the
call speaks the USSD engine's screens (flows/voice.py) with ``GetDigits``; each key press comes
back as ``dtmfDigits`` and advances the same flows, the state kept per voice ``sessionId``. The
final notification (``isActive=0``) is answered with an empty ``<Response/>`` and recorded on
the row: duration, cost, hang-up cause, the last screen. A call that was never answered is
tried once more a few minutes on.

Each prompt sentence is an audio file (gateway/voice_audio.py) played from
``PUBLIC_BASE_URL/voice/audio/<hash>.wav``. Bad fields answer 400 with one plain line, like the
other webhooks; a failure inside answers the phone with a polite goodbye.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, current_app, request, send_file
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from common.local_time import LOCAL_TZ
from common.privacy import mask_phone
from flows.voice import MAX_DTMF, Prompt, keypad_input, speak
from gateway.caller import caller_profile
from gateway.phones import to_e164
from gateway.runtime import Runtime, runtime
from gateway.webhooks import fields
from gateway.webhooks.auth import require_webhook_auth
from gateway.webhooks.fields import FieldError, callback_form
from storage import hop, outbox, voice_calls
from storage.models import utcnow
from storage.outages import outages
from workers.quiet_hours import quiet_until

log = logging.getLogger(__name__)

bp = Blueprint("voice", __name__)
bp.before_request(require_webhook_auth)
# The audio is fetched by Africa's Talking's media player and the simulator's <audio>: no
# token (a player cannot send one); the names are 128-bit hashes of what they say.
audio_bp = Blueprint("voice_audio", __name__)

MAX_SESSION_ID = 128
MAX_DIRECTION = 16
MAX_HANGUP = 40
MAX_AMOUNT = 24
MAX_CURRENCY = 8
MAX_DURATION = 86_400
MAX_HOPS = 10_000
DTMF_KEYS = frozenset("0123456789*#")
# A final notification carries the call's whole story (carrier, country, dial times, the
# bridged leg's cause ...): more fields than an SMS or USSD callback.
MAX_VOICE_FIELDS = 40
AMOUNT = re.compile(r"^\d{1,12}(\.\d{1,8})?$")
SILENCES_ALLOWED = 1  # a silent prompt is repeated once, then the call says goodbye
AUDIO_MAX_AGE = 365 * 86400  # a file's name is its content's hash: it never changes


def _xml(root: ET.Element) -> Response:
    body = ET.tostring(root, encoding="unicode", xml_declaration=False)
    return Response('<?xml version="1.0" encoding="UTF-8"?>' + body, mimetype="application/xml")


def _response(*actions: ET.Element) -> Response:
    root = ET.Element("Response")
    root.extend(actions)
    return _xml(root)


@bp.post("/voice")
def voice_callback() -> Response:
    form = callback_form(max_fields=MAX_VOICE_FIELDS)
    session_id = fields.text(form, "sessionId", MAX_SESSION_ID, required=True)
    active = fields.text(form, "isActive", 1, required=True)
    if active not in ("0", "1"):
        raise FieldError("isActive must be 0 or 1")
    direction = fields.text(form, "direction", MAX_DIRECTION)
    if direction not in ("Inbound", "Outbound", ""):
        raise FieldError("direction must be Inbound or Outbound")
    caller = _phone(form, "callerNumber")
    destination = _phone(form, "destinationNumber")
    digits = fields.text(form, "dtmfDigits", MAX_DTMF)
    if digits and not set(digits) <= DTMF_KEYS:
        raise FieldError("dtmfDigits holds a key no keypad has")
    rt = runtime()
    outbound = direction == "Outbound"
    residents = _residents(caller, destination) if outbound else []
    if active == "0":
        return ended(
            rt,
            session_id,
            residents,
            duration=fields.integer(form, "durationInSeconds", 0, MAX_DURATION),
            amount=_amount(form),
            currency=fields.text(form, "currencyCode", MAX_CURRENCY) or None,
            cause=fields.text(form, "hangupCause", MAX_HANGUP) or None,
        )
    if not direction:
        raise FieldError("direction is missing")
    call = rt.voice_store.load(session_id)[0]
    if call is not None:
        hop_seen = request.args.get("h", "")
        return advance(
            rt,
            call,
            digits,
            hop_seen=int(hop_seen) if hop_seen.isdigit() and len(hop_seen) < 6 else None,
            silent=request.args.get("silent") == "1",
        )
    if direction == "Inbound" and not digits:
        if caller is None:
            raise FieldError("callerNumber is missing or not a valid phone number")
        return inbound(rt, session_id, caller)
    return answered(rt, session_id, caller, residents)


def _amount(form: dict[str, str]) -> str | None:
    """The call's cost as Africa's Talking writes it ("0.0500"): digits and one point."""
    amount = fields.text(form, "amount", MAX_AMOUNT)
    if amount and not AMOUNT.match(amount):
        raise FieldError("amount must be a decimal number")
    return amount or None


def _residents(*phones: str | None) -> list[str]:
    """The numbers of a call that are not ours: the resident's (whichever field holds it)."""
    number = current_app.config["VOICE_NUMBER"]
    return [p for p in phones if p and p != number]


def _phone(form: dict[str, str], name: str) -> str | None:
    raw = fields.text(form, name, 32)
    if not raw:
        return None
    phone = to_e164(raw)
    if phone is None:
        raise FieldError(f"{name} is not a valid phone number")
    return phone


# --- a missed call ---------------------------------------------------------------------------


def inbound(rt: Runtime, session_id: str, caller: str) -> Response:
    """A call to the voice number, as VOICE_INBOUND says."""
    mode = str(current_app.config["VOICE_INBOUND"])
    if mode == "answer":
        return begin(rt, session_id, caller, call_id=None)
    if mode == "sms":
        body = rt.resident_sms.catalog(_language(rt, caller)).text(
            "sms.keywords", code=current_app.config["USSD_SERVICE_CODE"]
        )
        if hop.add_message(
            rt.db,
            recipient=caller,
            kind="reply",
            body=body,
            dedupe_key=f"voice-sms:{session_id}",
            urgent=True,
        ):
            rt.dispatch()
    elif mode == "callback":
        _queue_callback(rt, session_id, caller)
    return _response(ET.Element("Reject"))


def _queue_callback(rt: Runtime, session_id: str, caller: str) -> None:
    """A call back owed to ``caller``: at once, or at the end of quiet hours (with an SMS
    saying when); none past VOICE_CALLBACKS_PER_DAY."""
    config = current_app.config
    now = utcnow()
    local = now.astimezone(LOCAL_TZ)
    day_start = dt.datetime.combine(local.date(), dt.time(), LOCAL_TZ).astimezone(dt.UTC)
    quiet_end = quiet_until(now, list(config["SMS_QUIET_HOURS"]))
    language = _language(rt, caller) if quiet_end is not None else ""
    try:
        queued = _write_callback(rt, session_id, caller, day_start, quiet_end, language)
    except IntegrityError:  # the same missed call, reported twice at once: one row won
        return
    if not queued:
        return
    if quiet_end is not None:
        rt.dispatch()
    else:
        rt.worker.dispatch_calls()


def _write_callback(
    rt: Runtime,
    session_id: str,
    caller: str,
    day_start: dt.datetime,
    quiet_end: dt.datetime | None,
    language: str,
) -> bool:
    """The call back's row (and, in quiet hours, the SMS saying when), in one transaction;
    False when the cap or an open call back leaves nothing to do."""
    config = current_app.config
    with rt.db.begin() as session:
        if voice_calls.calls_today(session, caller, day_start) >= int(
            config["VOICE_CALLBACKS_PER_DAY"]
        ):
            log.info("voice: %s has had today's call-backs; rejected only", mask_phone(caller))
            return False
        call = voice_calls.queue_callback(
            session, phone=caller, inbound_session_id=session_id, due_at=quiet_end
        )
        if call is None:
            return False  # this missed call (or an earlier one) already has its call back
        if quiet_end is not None:
            catalog = rt.resident_sms.catalog(language)
            when = quiet_end.astimezone(LOCAL_TZ).strftime("%H:%M")
            outbox.add(
                session,
                recipient=caller,
                kind="reply",
                body=catalog.text("sms.voice_later", time=when),
                dedupe_key=f"voice-later:{session_id}",
                urgent=True,  # it answers a call just made: sent now, not at 07:00
            )
    return True


def _language(rt: Runtime, phone: str) -> str:
    _, cached = rt.store.load(phone)
    return str(caller_profile(rt.db, rt.store, phone, cached).get("lang") or "id")


# --- the call, spoken ------------------------------------------------------------------------


def answered(rt: Runtime, session_id: str, caller: str | None, phones: list[str]) -> Response:
    """The first callback of a call we placed (or an answered inbound call): the menu.
    ``phones``: the resident's number(s) of an outbound call, to match a call whose
    ``sessionId`` the provider's answer has not told us yet."""
    with rt.db.begin() as session:
        row = voice_calls.for_session(session, session_id, phones)
        if row is None:
            if current_app.config["VOICE_INBOUND"] == "answer" and caller:
                row_id, phone = None, caller
            else:
                abort(404, "no call of ours has this sessionId")
        else:
            row.answered_at = row.answered_at or utcnow()
            row.status = "answered" if row.status in ("calling", "queued") else row.status
            row_id, phone = row.id, row.phone
    return begin(rt, session_id, phone, call_id=row_id)


def begin(rt: Runtime, session_id: str, phone: str, call_id: int | None) -> Response:
    """A call that speaks the menus from the start (``call_id``: the call-back's row)."""
    _, cached = rt.store.load(phone)
    profile = caller_profile(rt.db, rt.store, phone, cached)
    services = rt.services(phone, profile)
    turn = rt.ussd_engine.begin(services, str(profile.get("lang") or ""), None)
    call: dict[str, Any] = {
        "sid": session_id,
        "phone": phone,
        "call_id": call_id,
        "hop": 0,
        "silences": 0,
        "state": turn.state,
    }
    return _reply(rt, call, speak(rt.ussd_engine, turn, welcome=True))


def advance(
    rt: Runtime, call: dict[str, Any], digits: str, *, hop_seen: int | None, silent: bool
) -> Response:
    """The next prompt of a call: for the keys pressed, or for silence (``silent``).
    ``hop_seen``: the hop number of the prompt the callback answers; an older one is a
    repeated callback, answered as before."""
    if hop_seen is not None and hop_seen < call["hop"]:
        return _xml(ET.fromstring(call["reply"]))  # a repeated callback: the same answer
    if call["state"].get("ended"):
        return _response()
    phone = call["phone"]
    if not digits and silent:
        call["silences"] += 1
        if call["silences"] > SILENCES_ALLOWED:
            catalog = rt.catalogs[str(call["state"]["lang"])]
            call["state"]["ended"] = True
            return _reply(rt, call, Prompt((catalog.text("voice.goodbye"),), 0, False))
        prompt = call["prompt"]
        catalog = rt.catalogs[str(call["state"]["lang"])]
        again = Prompt(
            (catalog.text("voice.no_input"), *prompt["sentences"]),
            prompt["digits"],
            prompt["finish"],
        )
        return _reply(rt, call, again)
    if not digits:
        return _xml(ET.fromstring(call["reply"]))  # nothing new: say it again
    call["silences"] = 0
    _, cached = rt.store.load(phone)
    services = rt.services(phone, caller_profile(rt.db, rt.store, phone, cached))
    turn = rt.ussd_engine.advance(services, call["state"], keypad_input(digits))
    call["state"] = turn.state
    return _reply(rt, call, speak(rt.ussd_engine, turn))


def _reply(rt: Runtime, call: dict[str, Any], prompt: Prompt) -> Response:
    call["hop"] += 1
    if call["hop"] > MAX_HOPS:
        abort(400, "too many hops in one call")
    language = str(call["state"]["lang"])
    names = rt.voice_audio.ready(language, prompt.sentences)
    plays = [_play(sentence, names.get(sentence)) for sentence in prompt.sentences]
    root = ET.Element("Response")
    if prompt.digits:
        get = ET.SubElement(
            root,
            "GetDigits",
            numDigits=str(prompt.digits),
            timeout=str(int(current_app.config["VOICE_DIGIT_TIMEOUT_SECONDS"])),
            finishOnKey="#",
            callbackUrl=_callback_url(h=call["hop"]),
        )
        get.extend(plays)
        # No key pressed: Africa's Talking goes on to the next action.
        redirect = ET.SubElement(root, "Redirect")
        redirect.text = _callback_url(h=call["hop"], silent=1)
    else:
        root.extend(plays)
        call["state"]["ended"] = True
    call["prompt"] = {
        "sentences": list(prompt.sentences),
        "digits": prompt.digits,
        "finish": prompt.finish_on_hash,
    }
    call["reply"] = ET.tostring(root, encoding="unicode")
    rt.voice_store.save(call["sid"], call, [])
    return _xml(root)


def _play(sentence: str, name: str | None) -> ET.Element:
    if name is None:  # not rendered within the budget: Africa's Talking's own voice stands in
        say = ET.Element("Say")
        say.text = sentence
        return say
    return ET.Element("Play", url=f"{_base_url()}/voice/audio/{name}.wav")


def _base_url() -> str:
    return str(current_app.config["PUBLIC_BASE_URL"] or request.host_url).rstrip("/")


def _callback_url(**query: Any) -> str:
    token = current_app.config["WEBHOOK_TOKEN"]
    params = {**({"token": token} if token else {}), **query}
    return f"{_base_url()}/voice?{urlencode(params)}"


# --- the end of a call -----------------------------------------------------------------------


def ended(
    rt: Runtime,
    session_id: str,
    phones: list[str],
    *,
    duration: int | None = None,
    amount: str | None = None,
    currency: str | None = None,
    cause: str | None = None,
) -> Response:
    """The final notification: recorded on the call's row (a call we placed that was never
    answered is tried once more); answered with an empty ``<Response/>``."""
    call = rt.voice_store.load(session_id)[0]
    state = (call or {}).get("state") or {}
    now = utcnow()
    with rt.db.begin() as session:
        row = voice_calls.for_session(session, session_id, phones)
        if row is not None and row.ended_at is None:
            row.duration_seconds = duration
            row.amount, row.currency, row.hangup_cause = amount, currency, cause
            row.journey = state.get("journey")
            row.last_screen = str(state.get("screen") or "")[:40] or None
            if row.answered_at is not None:
                row.status, row.ended_at = "completed", now
            elif row.status == "calling":
                retry = dt.timedelta(minutes=float(current_app.config["VOICE_RETRY_MINUTES"]))
                voice_calls.not_answered(session, row, now, retry, cause or "not answered")
    if call is not None:
        call["state"]["ended"] = True
        rt.voice_store.save(session_id, call, [])
    return _response()


# --- the audio -------------------------------------------------------------------------------


@audio_bp.get("/voice/audio/<name>.wav")
def audio(name: str) -> Response:
    path = runtime().voice_audio.path(name)
    if path is None:
        abort(404)
    response = send_file(path, mimetype="audio/wav", max_age=AUDIO_MAX_AGE, conditional=True)
    response.cache_control.public = True
    response.cache_control.immutable = True
    return response


# --- errors ----------------------------------------------------------------------------------


@bp.errorhandler(FieldError)
def bad_field(error: FieldError) -> Response:
    return fields.refuse(error)


@bp.errorhandler(Exception)
def answer_anyway(error: Exception) -> Response:
    """Bad requests get one plain line; whatever broke inside, the call hears a goodbye."""
    if isinstance(error, HTTPException) and error.code and error.code < 500:
        reason = error.description if error.code == 404 else error.name
        return Response(f"{reason}\n", status=error.code, mimetype="text/plain")
    if not outages.failed(error):
        log.exception("voice callback failed")
    say = ET.Element("Say")
    say.text = "Sorry, the service is having trouble. Please try again later."
    return _response(say)
