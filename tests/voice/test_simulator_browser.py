"""The simulator's call buttons in a real browser (Debian's Chromium through Playwright): a
missed call rings back, Answer plays the Indonesian menu through <audio>, and the keypad
reaches the next village visit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_servers import demo_server

CHROMIUM = "/usr/bin/chromium"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402


@pytest.fixture
def server(tmp_path: Path, sqlite_template: Path, audio_dir: Path) -> Iterator[str]:
    """``make demo``'s shape: the embedded default with its demo data, the console provider."""
    config = {
        "SMS_QUIET_HOURS": [],
        "VOICE_AUDIO_DIR": str(audio_dir),
        "VOICE_RENDER_BUDGET_SECONDS": 10,
    }
    with demo_server(tmp_path / "gateway.sqlite3", sqlite_template, config) as url:
        yield url


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        page = browser.new_context().new_page()
        refused: list[str] = []
        page.on(
            "console",
            lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
        )
        yield page
        browser.close()
        assert refused == []


def _playing(page: Page) -> None:
    page.wait_for_function(
        "() => { const a = document.getElementById('voice-audio');"
        " return a.src.endsWith('.wav') && !a.paused && a.currentTime > 0; }",
        timeout=10_000,
    )


def test_missed_call_then_the_menu_by_ear_and_keypad(server: str, page: Page) -> None:
    page.goto(f"{server}/simulator")
    page.click("#voice-missed")
    expect(page.locator("#voice-answer")).to_be_visible()
    page.click("#voice-answer")
    screen = page.locator("#screen")
    expect(screen).to_contain_text("Untuk Cek status, tekan 1.")
    _playing(page)
    page.click(".key[data-key='3']")
    expect(screen).to_contain_text("Petugas ke Desa")
    _playing(page)
