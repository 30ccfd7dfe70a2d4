"""Africa's Talking's side of a voice call, played against /voice: a missed call, the call
back answered, keys pressed, silence, hang-up — and what the resident heard, each prompt's
audio fetched and checked (a WAV that decodes, long enough, not silence)."""

from __future__ import annotations

import io
import math
import secrets
import wave
import xml.etree.ElementTree as ET
from array import array
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from gateway.runtime import runtime
from tests.fake_at_voice import FakeAtVoice
from tests.helpers import ME

VOICE_NUMBER = "+62361000100"
TOKEN = "hook-secret"
PUBLIC = "https://gateway.test"
RMS_FLOOR = 200  # 16-bit samples: speech is in the thousands, silence near 0
MIN_SECONDS = 0.3


def audio_ok(data: bytes) -> float:
    """The clip's length in seconds, after checking it is a WAV that decodes and is not
    silence."""
    with wave.open(io.BytesIO(data)) as clip:
        assert clip.getsampwidth() == 2 and clip.getnchannels() == 1
        frames = clip.readframes(clip.getnframes())
        seconds = clip.getnframes() / clip.getframerate()
    samples = array("h", frames)
    rms = math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))
    assert seconds > MIN_SECONDS, seconds
    assert rms > RMS_FLOOR, rms
    return seconds


class Call:
    """One resident's phone and Africa's Talking between it and us."""

    def __init__(self, app: Flask, fake: FakeAtVoice, number: str = ME) -> None:
        self.app = app
        self.client = app.test_client()
        self.fake = fake
        self.number = number
        self.session_id = ""
        self.last: ET.Element | None = None
        self.heard: list[str] = []  # every sentence played, in order
        self.checked: set[str] = set()

    # the wire

    def post(self, url: str = "/voice", **fields: Any) -> tuple[int, ET.Element | None, str]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else f"?token={TOKEN}")
        response = self.client.post(path, data={k: str(v) for k, v in fields.items()})
        body = response.get_data(as_text=True)
        assert response.status_code < 500, body
        if response.status_code != 200:
            assert response.mimetype == "text/plain" and body.count("\n") == 1, body
            return response.status_code, None, body
        assert response.mimetype == "application/xml", response.mimetype
        root = ET.fromstring(body)
        assert root.tag == "Response"
        self.last = root
        self._listen(root)
        return 200, root, body

    def _listen(self, root: ET.Element) -> None:
        for element in root.iter():
            if element.tag == "Play":
                url = element.attrib["url"]
                assert url.startswith(PUBLIC + "/voice/audio/"), url
                name = url.rsplit("/", 1)[1].removesuffix(".wav")
                if name not in self.checked:
                    with self.client.get(urlsplit(url).path) as got:
                        assert got.status_code == 200 and got.mimetype == "audio/wav"
                        assert "immutable" in got.headers["Cache-Control"]
                        audio_ok(got.data)
                    self.checked.add(name)
                said = runtime(self.app).voice_audio.text_of(name)
                assert said is not None
                self.heard.append(said[1])
            elif element.tag == "Say":
                raise AssertionError(f"Say used instead of audio: {element.text!r}")

    # Africa's Talking's moves

    def miss_call(self) -> ET.Element | None:
        self.heard = []
        return self.post(
            isActive=1,
            sessionId=f"ATVId_in_{secrets.token_hex(6)}",
            direction="Inbound",
            callerNumber=self.number,
            destinationNumber=VOICE_NUMBER,
        )[1]

    def place_calls(self) -> None:
        runtime(self.app).worker.voice.run()

    def answer(self) -> ET.Element:
        placed = self.fake.calls_to(self.number)
        assert placed, "no call was placed to the resident"
        assert placed[-1].caller_id == VOICE_NUMBER
        self.session_id = str(placed[-1].session_id)
        self.heard = []
        status, root, body = self.post(
            isActive=1,
            sessionId=self.session_id,
            direction="Outbound",
            callerNumber=VOICE_NUMBER,
            destinationNumber=self.number,
        )
        assert status == 200 and root is not None, body
        return root

    def _fields(self, **extra: Any) -> dict[str, Any]:
        return {
            "isActive": 1,
            "sessionId": self.session_id,
            "direction": "Outbound",
            "callerNumber": VOICE_NUMBER,
            "destinationNumber": self.number,
            **extra,
        }

    def get_digits(self) -> ET.Element:
        assert self.last is not None
        found = self.last.find("GetDigits")
        assert found is not None, ET.tostring(self.last)
        return found

    def press(self, digits: str) -> ET.Element | None:
        url = self.get_digits().attrib["callbackUrl"]
        self.heard = []
        return self.post(url, **self._fields(dtmfDigits=digits))[1]

    def keep_silent(self) -> ET.Element | None:
        assert self.last is not None
        redirect = self.last.find("Redirect")
        assert redirect is not None and redirect.text
        self.heard = []
        return self.post(redirect.text, **self._fields())[1]

    def hang_up(self, seconds: int = 42, **extra: Any) -> ET.Element | None:
        return self.post(
            isActive=0,
            sessionId=self.session_id,
            direction="Outbound",
            callerNumber=VOICE_NUMBER,
            destinationNumber=self.number,
            durationInSeconds=seconds,
            amount="0.0500",
            currencyCode="USD",
            hangupCause="NORMAL_CLEARING",
            **extra,
        )[1]
