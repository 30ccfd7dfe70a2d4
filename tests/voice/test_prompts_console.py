"""Staff record prompts: the console's prompts page lists every fixed sentence per language
with its source and a player; an upload (here a WAV at 44.1 kHz stereo, as a phone might make)
is converted and from then on played by calls instead of the synthesizer."""

from __future__ import annotations

import io
import math
import re
import wave
from array import array

import pytest
from flask import Flask

from gateway.runtime import runtime
from storage.db import Database
from storage.models import AuditEntry
from tests.console.helpers import cli, logged_in
from tests.helpers import count
from tests.voice.helpers import Call, audio_ok

SENTENCE = "Untuk Cek status, tekan 1."


def _recording(seconds: float = 1.0) -> bytes:
    """A tone, as a phone's recorder would save it (44.1 kHz stereo)."""
    rate = 44100
    samples = array(
        "h",
        (
            int(8000 * math.sin(2 * math.pi * 440 * i / rate))
            for i in range(int(rate * seconds))
            for _channel in (0, 1)
        ),
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as clip:
        clip.setnchannels(2)
        clip.setsampwidth(2)
        clip.setframerate(rate)
        clip.writeframes(samples.tobytes())
    return out.getvalue()


@pytest.fixture
def backend() -> str:
    return "embedded"


def test_a_recorded_prompt_wins_over_the_synthesizer(app: Flask, call: Call, db: Database) -> None:
    assert cli(app.test_cli_runner(), "demo", "--force").exit_code == 0
    staff = logged_in(app, "staff")
    page = staff.get("/staff/prompts?lang=id").get_data(as_text=True)
    assert SENTENCE in page and "Suara telepon" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = staff.client.post(
        "/staff/prompts",
        data={
            "csrf_token": token,
            "language": "id",
            "text": SENTENCE,
            "recording": (io.BytesIO(_recording()), "rekaman.wav"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    audio = runtime(app).voice_audio
    name = audio.recorded("id", SENTENCE)
    assert name is not None and name != audio.name("id", SENTENCE)
    with app.test_client().get(f"/voice/audio/{name}.wav") as got:
        assert audio_ok(got.data) > 0.9
        with wave.open(io.BytesIO(got.data)) as clip:
            assert (clip.getframerate(), clip.getnchannels()) == (8000, 1)
    assert count(db, AuditEntry, action="prompts.record") == 1

    call.miss_call()
    call.place_calls()
    menu = call.answer()
    urls = [p.attrib["url"] for p in menu.iter("Play")]
    assert any(u.endswith(f"/{name}.wav") for u in urls)  # the recording, not the robot

    bad = staff.client.post(
        "/staff/prompts",
        data={"csrf_token": token, "language": "id", "text": "anything at all"},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400
    back = staff.client.post(
        "/staff/prompts",
        data={"csrf_token": token, "language": "id", "text": SENTENCE, "forget": "1"},
        content_type="multipart/form-data",
    )
    assert back.status_code == 302 and audio.recorded("id", SENTENCE) is None
    assert staff.client.get("/staff/prompts").status_code == 200
    officer = logged_in(app, "officer")
    assert officer.get("/staff/prompts").status_code == 403
