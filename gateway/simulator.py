"""The phone simulator (/simulator): a feature phone in the browser for demos, training and
tests. Dialling goes through ``ussd.handle_hop`` — the code the Africa's Talking webhook runs —
texting through ``sms.handle_inbound``, and calls through the voice webhook's own steps
(``voice.inbound``, ``answered``, ``begin``, ``advance``, ``ended``), whose XML is read back
here into the prompts' audio for the page's ``<audio>``; the inbox shows what the outbox holds
for the number.

Open to anyone on the embedded default; in production only to logged-in admins and staff,
unless SIMULATOR_PUBLIC is set, and there it plays only SIMULATOR_NUMBERS (none by default).
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from flask_login import current_user
from sqlalchemy import select

from gateway.console import CONTROL, translate
from gateway.console.auth import OFFICE
from gateway.console.formatting import clock
from gateway.phones import to_e164
from gateway.runtime import runtime
from gateway.webhooks import sms, ussd, voice
from storage.models import OutboxMessage, VoiceCall

bp = Blueprint("simulator", __name__, url_prefix="/simulator")


@bp.before_request
def _page_request() -> None:
    from gateway.console import page_request  # (the console's package imports this module)

    page_request()


@bp.before_request
def _who_may_use_it() -> Response | None:
    """Open on the embedded default (a demo with no real residents); in production only
    admins and staff, whose work it is to train and test — not a village officer, who would
    otherwise act as any test phone from any village. SIMULATOR_PUBLIC = true opens it to
    anyone (a training server)."""
    public = current_app.config.get("SIMULATOR_PUBLIC", "auto")
    if public == "auto":
        public = current_app.config["EMBEDDED"]
    if public:
        return None
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined,no-any-return]
    if current_user.role not in OFFICE:
        abort(403)
    return None


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        abort(400, description="a JSON object is expected")
    return body


def _text(body: dict[str, Any], name: str, longest: int) -> str:
    """A string field of the page's request, as a phone could send it: no control characters
    (a NUL or a lone surrogate would reach the database), and no longer than ``longest``."""
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > longest or CONTROL.search(value):
        abort(400, description=f"{name}: text of at most {longest} characters is expected")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        abort(400, description=f"{name}: not text")
    return value


def _phone() -> str:
    raw = _text(_body(), "phone", 40) if request.is_json else request.args.get("phone", "")
    phone = to_e164(raw[:40])
    if phone is None:
        abort(400, description="not a valid phone number")
    allowed = current_app.config["SIMULATOR_NUMBERS"]
    if not current_app.config["EMBEDDED"] and phone not in allowed:
        abort(
            403,
            description="the simulator plays only the test numbers: " + ", ".join(allowed)
            if allowed
            else "no test numbers are set (SIMULATOR_NUMBERS)",
        )
    return phone


@bp.get("")
def page() -> str:
    numbers = current_app.config["SIMULATOR_NUMBERS"]
    demo = "+6281200000001" if current_app.config["EMBEDDED"] else ""  # the demo's grandmother
    return render_template(
        "simulator.html",
        code=current_app.config["USSD_SERVICE_CODE"],
        default_phone=numbers[0] if numbers else demo,
    )


@bp.post("/dial")
def dial() -> Response:
    body = _body()
    session_id = _text(body, "session", 64) or f"sim-{secrets.token_hex(8)}"
    reply = ussd.handle_hop(
        runtime(),
        session_id=session_id,
        phone=_phone(),
        text=_text(body, "text", ussd.MAX_TEXT),
        service_code=current_app.config["USSD_SERVICE_CODE"],
        network_code=ussd.SIMULATOR_NETWORK,
    )
    response = jsonify({"session": session_id, "reply": reply})
    # its finished sessions reach the session log (and the dashboard) like any other's
    response.call_on_close(runtime().session_log.flush_after_reply)
    return response


@bp.post("/sms")
def send_sms() -> Response:
    text = _text(_body(), "text", 480)  # an inbound message's longest (three segments)
    result = sms.handle_inbound(runtime(), f"sim-{secrets.token_hex(8)}", _phone(), text)
    return jsonify({"result": result})


@bp.get("/inbox")
def inbox() -> Response:
    phone = _phone()
    with runtime().db.begin() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.recipient == phone)
            .order_by(OutboxMessage.id.desc())
            .limit(30)
        ).all()
        messages = [
            {
                "id": m.id,
                "body": m.body,
                "status": m.status,
                "status_text": translate(m.status),  # the page's language
                "at": f"{clock(m.created_at)} WITA",
            }
            for m in rows
        ]
    return jsonify({"phone": phone, "messages": messages})


# --- calls (issue 13) --------------------------------------------------------------------------


def _prompt(response: Response) -> dict[str, Any]:
    """A voice reply (the webhook's XML) as the page plays it: the audio paths (same origin,
    whatever PUBLIC_BASE_URL says), what each says, and how many keys are awaited."""
    root = ET.fromstring(response.get_data(as_text=True))
    audio = runtime().voice_audio
    clips: list[dict[str, str]] = []
    for element in root.iter():
        if element.tag == "Play":
            path = urlsplit(element.attrib["url"]).path
            said = audio.text_of(path.rsplit("/", 1)[-1].removesuffix(".wav"))
            clips.append({"url": path, "text": said[1] if said else ""})
        elif element.tag == "Say":
            clips.append({"url": "", "text": element.text or ""})
    digits = root.find("GetDigits")
    return {
        "actions": [child.tag for child in root],
        "clips": clips,
        "digits": int(digits.attrib["numDigits"]) if digits is not None else 0,
        "timeout": int(digits.attrib["timeout"]) if digits is not None else 0,
    }


@bp.post("/call")
def call() -> Response:
    """The "call" button: the menus at once (as VOICE_INBOUND = "answer" would)."""
    session_id = f"sim-voice-{secrets.token_hex(8)}"
    reply = voice.begin(runtime(), session_id, _phone(), call_id=None)
    return jsonify({"session": session_id, **_prompt(reply)})


@bp.post("/missed-call")
def missed_call() -> Response:
    """The "missed call" button: rejected and called back, as VOICE_INBOUND says. With the
    console provider (the demo) the call back is placed at once and rings here."""
    rt = runtime()
    phone = _phone()
    reply = voice.inbound(rt, f"sim-in-{secrets.token_hex(8)}", phone)
    if current_app.config["VOICE_PROVIDER"] == "console":
        rt.worker.voice.run()
    with rt.db.begin() as session:
        ringing = session.scalar(
            select(VoiceCall.session_id)
            .where(VoiceCall.phone == phone, VoiceCall.status == "calling")
            .order_by(VoiceCall.id.desc())
            .limit(1)
        )
    return jsonify({"actions": _prompt(reply)["actions"], "ringing": ringing})


@bp.post("/answer")
def answer() -> Response:
    """The simulated phone picks up the call back that rings."""
    session_id = _text(_body(), "session", 128)
    reply = voice.answered(runtime(), session_id, None, [_phone()])
    return jsonify({"session": session_id, **_prompt(reply)})


@bp.post("/keys")
def keys() -> Response:
    """Keys pressed on the call (``digits``), or silence (``digits`` empty)."""
    body = _body()
    session_id = _text(body, "session", 128)
    digits = _text(body, "digits", 20)
    if not set(digits) <= voice.DTMF_KEYS:
        abort(400, description="digits: keypad keys are expected")
    rt = runtime()
    call = rt.voice_store.load(session_id)[0]
    if call is None or call.get("phone") != _phone():
        abort(404, description="no such call on this phone")
    reply = voice.advance(rt, call, digits, hop_seen=None, silent=not digits)
    return jsonify({"session": session_id, **_prompt(reply)})


@bp.post("/hang-up")
def hang_up() -> Response:
    rt = runtime()
    session_id = _text(_body(), "session", 128)
    call = rt.voice_store.load(session_id)[0]
    if call is None or call.get("phone") != _phone():
        abort(404, description="no such call on this phone")
    voice.ended(rt, session_id, [], cause="NORMAL_CLEARING")
    return jsonify({"ended": True})
