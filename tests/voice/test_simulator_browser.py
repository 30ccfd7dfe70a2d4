"""The simulator's call buttons in a real browser (Debian's Chromium through Playwright): a
missed call rings back, Answer plays the Indonesian menu through <audio>, and the keypad
reaches the next village visit."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from gateway import create_app

CHROMIUM = "/usr/bin/chromium"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402


@pytest.fixture
def server(tmp_path: Path, sqlite_template: Path, audio_dir: Path) -> Iterator[str]:
    """``make demo``'s shape: the embedded default with its demo data, the console provider."""
    path = tmp_path / "gateway.sqlite3"
    shutil.copy(sqlite_template, path)
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{path}",
            "SMS_QUIET_HOURS": [],
            "VOICE_AUDIO_DIR": str(audio_dir),
            "VOICE_RENDER_BUDGET_SECONDS": 10,
        }
    )
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join(timeout=5)
    app.extensions["gateway"].jobs.stop()
    app.extensions["gateway"].db.dispose()


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
