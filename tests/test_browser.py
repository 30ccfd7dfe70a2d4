"""End to end in a real browser: headless Chromium (Debian's package) driven by Playwright.

Log in, publish a visit, watch the broadcast progress reach 100%, open the phone simulator,
dial, check a status, and see the SMS arrive in its inbox. Screenshots of each page are saved
in test-artifacts/ (CI keeps them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.local_time import local_today
from tests.live_servers import demo_server

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402


@pytest.fixture
def server(tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """The embedded default in a real HTTP server, sending through the console provider."""
    config = {"SMS_QUIET_HOURS": [], "SWEEP_INTERVAL_SECONDS": 1}
    with demo_server(tmp_path / "gateway.sqlite3", sqlite_template, config) as url:
        yield url


@pytest.fixture
def page() -> Iterator[Page]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        # The Content-Security-Policy refuses inline code: any page that still had some
        # would show it here (and silently lose a script or a style).
        refused: list[str] = []
        page.on(
            "console",
            lambda message: (
                refused.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        yield page
        context.close()
        assert refused == []
        browser.close()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_publish_a_visit_and_dial_the_simulator(server: str, page: Page) -> None:
    page.goto(f"{server}/staff/login")
    shot(page, "01-login")
    page.fill("#username", "staff")
    page.fill("#password", "staff-demo-123")
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_have_text("Ringkasan")
    shot(page, "02-dashboard")

    # A new visit to Tembok, saved as a draft, then published from its broadcast preview.
    page.click("text=Kunjungan desa")
    shot(page, "03-visits")
    page.click("text=Kunjungan baru")
    page.select_option("#village", "51.08.09.2010")
    day = local_today().toordinal() + 10
    from datetime import date

    page.fill("#date", date.fromordinal(day).isoformat())
    page.fill("#place", "Wantilan Desa")
    page.fill("#bring", "KK asli")
    shot(page, "04-visit-form")
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Terbitkan kunjungan")
    recipients = int(page.locator("#recipients").inner_text())
    assert recipients >= 1
    expect(page.locator(".sms").first).to_contain_text("Wantilan Desa")
    shot(page, "05-broadcast-preview")
    page.click("text=Terbitkan dan kirim")

    # The progress page updates by itself until every message is handed over.
    expect(page.locator("#percent")).to_have_text("100%", timeout=20_000)
    shot(page, "06-broadcast-progress")

    # The grandmother of Tembok dials, checks her ID card, asks for the checklist...
    page.goto(f"{server}/simulator")
    page.fill("#phone", "+6281200000001")
    page.click("#dial")
    expect(page.locator("#screen")).to_contain_text("1 Cek status")
    press(page, "1")
    expect(page.locator("#screen")).to_contain_text("Dokumen Anda:")
    ktp = [line for line in page.locator("#screen").inner_text().split("\n") if "KTP-el" in line]
    press(page, ktp[0].split(" ")[0])
    expect(page.locator("#screen")).to_contain_text("Status: Siap diambil")
    expect(page.locator("#screen")).to_contain_text("Ambil di: Kantor Desa Tembok")
    shot(page, "07-simulator-status")
    press(page, "00")
    for key in ("4", "1", "1", "1"):
        press(page, key)
    expect(page.locator("#screen")).to_contain_text("Daftar dokumen dikirim lewat SMS")

    # ...and her inbox shows the SMS the product sent her: the visit and the checklist.
    inbox = page.locator("#inbox")
    expect(inbox).to_contain_text("Wantilan Desa", timeout=15_000)
    expect(inbox).to_contain_text("KTP-el, bawa: KK asli", timeout=15_000)
    expect(inbox).to_contain_text("terkirim", timeout=15_000)
    shot(page, "08-simulator-inbox")

    # Texting the service works from the same page.
    page.fill("#sms", "JADWAL Tembok")
    page.click("#sms-send")
    expect(inbox.locator("li").first).to_contain_text(
        "Adminduk: petugas ke Desa Tembok", timeout=15_000
    )
    shot(page, "09-simulator-sms")


def press(page: Page, key: str) -> None:
    before = page.locator("#screen").inner_text()
    page.fill("#entry", key)
    page.press("#entry", "Enter")
    expect(page.locator("#screen")).not_to_have_text(before)


def test_every_page_renders_for_an_admin(server: str, page: Page) -> None:
    page.goto(f"{server}/staff/login?lang=en")
    page.fill("#username", "admin")
    page.fill("#password", "admin-demo-123")
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_have_text("Dashboard")
    pages: dict[str, Any] = {
        "10-broadcast-compose": "/staff/broadcasts/new",
        "11-requests": "/staff/requests",
        "12-bookings": "/staff/bookings",
        "13-outbox": "/staff/outbox",
        "14-residents": "/staff/residents",
        "15-users": "/staff/users",
        "16-audit": "/staff/audit",
    }
    for name, path in pages.items():
        response = page.goto(server + path)
        assert response is not None and response.status == 200, path
        shot(page, name)
    # The composer counts characters and segments as you type, and warns about UCS-2.
    page.goto(f"{server}/staff/broadcasts/new")
    page.fill("#text", "Kantor tutup hari Senin.")
    expect(page.locator("#count")).to_have_text("24 characters, GSM-7, 1 segment(s)")
    page.fill("#text", "Kantor tutup “Senin”.")
    expect(page.locator("#count")).to_contain_text("UCS-2, 1 segment(s)")
    expect(page.locator("#count")).to_contain_text("“ ”")
