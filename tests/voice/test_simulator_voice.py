"""The phone simulator's call buttons (the embedded default: the console voice provider): a
missed call rings back at once, and the call plays the same prompts as /voice."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import ME
from tests.voice.helpers import audio_ok


@pytest.fixture
def backend() -> str:
    return "embedded"  # the demo's shape: calls placed by the console provider


@pytest.fixture
def voice_settings(voice_settings: dict[str, Any]) -> dict[str, Any]:
    return {**voice_settings, "VOICE_PROVIDER": "console", "PUBLIC_BASE_URL": ""}


def _post(client: FlaskClient, token: str, path: str, **body: Any) -> dict[str, Any]:
    response = client.post(
        f"/simulator/{path}", json={"phone": ME, **body}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def _heard(client: FlaskClient, prompt: dict[str, Any]) -> list[str]:
    for clip in prompt["clips"]:
        assert clip["url"].startswith("/voice/audio/")
        with client.get(clip["url"]) as got:
            assert got.status_code == 200
            audio_ok(got.data)
    return [clip["text"] for clip in prompt["clips"]]


def test_missed_call_rings_back_and_the_call_plays_the_menus(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/simulator")
    assert 'id="voice-missed"' in page.get_data(as_text=True)
    token = re.search(r'data-csrf="([^"]+)"', page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    missed = _post(client, token, "missed-call")
    assert missed["actions"] == ["Reject"] and missed["ringing"]
    menu = _post(client, token, "answer", session=missed["ringing"])
    assert _heard(client, menu)[2] == "Untuk Cek status, tekan 1."
    assert menu["digits"] == 1
    schedule = _post(client, token, "keys", session=menu["session"], digits="3")
    assert _heard(client, schedule)[0] == "Pilih kecamatan:"
    again = _post(client, token, "keys", session=menu["session"], digits="")  # silence
    assert _heard(client, again)[0] == "Maaf, kami tidak mendengar pilihan Anda."
    assert _post(client, token, "hang-up", session=menu["session"]) == {"ended": True}


def test_call_button_plays_the_menu_at_once(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/simulator").get_data(as_text=True)
    token = re.search(r'data-csrf="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    menu = _post(client, token, "call")
    assert _heard(client, menu)[0] == "Selamat datang di layanan Adminduk Buleleng."
    refused = client.post(
        "/simulator/keys",
        json={"phone": ME, "session": menu["session"], "digits": "1a"},
        headers={"X-CSRFToken": token},
    )
    assert refused.status_code == 400
    other = client.post(
        "/simulator/keys",
        json={"phone": "+6281299990002", "session": menu["session"], "digits": "1"},
        headers={"X-CSRFToken": token},
    )
    assert other.status_code == 404  # another phone's call
