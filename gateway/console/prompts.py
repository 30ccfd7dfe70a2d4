"""Voice prompts (issue 13): every fixed sentence a call says, per language, with a player,
where its audio comes from (recorded by staff, or the synthesizer), and an upload that makes a
phone recording its voice — so the office can replace the robot voice with a real one.

A recording is converted and level-normalised with sox (gateway/voice_audio.py); uploads may
be larger than a webhook's body (RECORDING_MAX_BYTES), on this page only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Response, abort, render_template, request, url_for
from flask_wtf.file import FileField
from wtforms import StringField

from gateway import staff_actions
from gateway.console import bp, translate
from gateway.console.auth import OFFICE, roles
from gateway.console.shared import ConsoleForm, actor, done
from gateway.runtime import runtime
from gateway.voice_audio import AudioError

RECORDING_MAX_BYTES = 4 * 1024 * 1024  # a minute of a phone's WAV, with room
RECORDING_TYPES = (".wav", ".ogg", ".oga", ".opus", ".amr", ".flac", ".mp3", ".m4a")


@bp.before_app_request  # before CSRF's check reads the body (an app-wide hook)
def _recordings_may_be_larger() -> None:
    if request.endpoint == "staff.prompt_record":
        request.max_content_length = RECORDING_MAX_BYTES


def _sentences(language: str) -> list[str]:
    from flows.voice import fixed_sentences

    rt = runtime()
    return sorted(s for lang, s in fixed_sentences(rt.ussd_engine) if lang == language)


@bp.get("/prompts")
@roles(*OFFICE)
def prompts() -> str:
    rt = runtime()
    language = request.args.get("lang", "")
    if language not in rt.catalogs:
        language = next(iter(rt.catalogs))
    audio = rt.voice_audio
    rows = []
    for text in _sentences(language):
        recorded = audio.recorded(language, text)
        synthesized = audio.name(language, text)
        name = recorded or (synthesized if audio.path(synthesized) else None)
        rows.append(
            {
                "text": text,
                "source": "recorded" if recorded else ("synthesized" if name else "not rendered"),
                "url": url_for("voice_audio.audio", name=name) if name else None,
            }
        )
    return render_template(
        "console/prompts.html", rows=rows, language=language, languages=list(rt.catalogs)
    )


class RecordingForm(ConsoleForm):
    language = StringField()
    text = StringField()
    recording = FileField()
    forget = StringField()


@bp.post("/prompts")
@roles(*OFFICE)
def prompt_record() -> Response:
    rt = runtime()
    form = RecordingForm()
    language, text = form.language.data or "", form.text.data or ""
    if language not in rt.catalogs or text not in _sentences(language):
        abort(400, description="not a prompt of the service")
    audio = rt.voice_audio
    after: dict[str, Any]
    if form.forget.data:
        forgotten = audio.forget_recording(language, text)
        message = translate("The synthesizer speaks this prompt again.")
        action, after = "prompts.forget", {"recorded": False}
        if not forgotten:
            return done(message, "staff.prompts", lang=language)
    else:
        upload = form.recording.data
        suffix = Path(getattr(upload, "filename", "") or "").suffix.lower()
        if upload is None or suffix not in RECORDING_TYPES:
            abort(400, description="a recording (WAV, OGG, AMR, FLAC or MP3) is expected")
        try:
            name = audio.record(language, text, upload.read(), suffix)
        except AudioError:
            abort(400, description="the recording could not be read (try WAV or OGG)")
        message = translate("Recording saved: calls now play it.")
        action, after = "prompts.record", {"recorded": True, "audio": name}
    with rt.db.begin() as session:
        staff_actions.audit(
            session, actor(), action, "voice_prompt", f"{language}:{text[:60]}", after=after
        )
    return done(message, "staff.prompts", lang=language)
