"""The app with voice on Africa's Talking (the fake voice API, calls placed through the real
SDK), quiet hours off unless a test sets them, and one audio folder for the whole run (each
sentence is synthesized once)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from gateway import create_app
from tests.fake_at_voice import FakeAtVoice
from tests.ussd.conftest import seeded  # noqa: F401 (the requests on file, for the status walk)
from tests.voice.helpers import VOICE_NUMBER, Call


@pytest.fixture
def fake_voice() -> Iterator[FakeAtVoice]:
    with FakeAtVoice(api_key="voice-key", username="adminduk") as server:
        yield server


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("voice-audio")


@pytest.fixture
def voice_settings(fake_voice: FakeAtVoice, audio_dir: Path) -> dict[str, Any]:
    """What a test may change before the app is built (e.g. quiet hours)."""
    return {
        "VOICE_PROVIDER": "africastalking",
        "AT_USERNAME": "adminduk",
        "AT_API_KEY": "voice-key",
        "AT_VOICE_BASE_URL": fake_voice.url,
        "VOICE_NUMBER": VOICE_NUMBER,
        "PUBLIC_BASE_URL": "https://gateway.test",
        "WEBHOOK_TOKEN": "hook-secret",
        "VOICE_AUDIO_DIR": str(audio_dir),
        "VOICE_RENDER_BUDGET_SECONDS": 10,  # tests hear every sentence as audio
        "SMS_QUIET_HOURS": [],
    }


@pytest.fixture
def app(app_config: dict[str, Any], voice_settings: dict[str, Any]) -> Iterator[Flask]:
    app = create_app({"TESTING": True, **app_config, **voice_settings})
    yield app
    app.extensions["gateway"].voice_audio.close(wait=True)  # (renders ahead read the database)
    app.extensions["gateway"].db.dispose()


@pytest.fixture
def call(app: Flask, fake_voice: FakeAtVoice) -> Call:
    return Call(app, fake_voice)
