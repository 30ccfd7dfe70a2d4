"""Every console page, for every role, in a real browser (Debian's Chromium, driven by
Playwright) at a village officer's phone size (360 x 740) and an office PC's (1366 x 768): nothing
scrolls sideways, what a finger taps is at least 44 px tall, check boxes are large, phone and
number fields bring up the right keypad, and the dashboard's chart text is readable. Screenshots
of each page at each size land in test-artifacts/phone/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.test_browser import ARTIFACTS, CHROMIUM
from tests.test_browser import server as server  # the fixture: the demo in a real HTTP server

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1366, "height": 768}
SHOTS = ARTIFACTS / "phone"
PASSWORDS = {"admin": "admin-demo-123", "staff": "staff-demo-123", "officer": "officer-demo-123"}

# The pages each role opens (a page a role may not open shows the 403 page, which must fit too).
EVERYONE = [
    "/staff/",
    "/staff/visits",
    "/staff/visits?past=1",
    "/staff/requests",
    "/staff/requests/new",
    "/staff/bookings",
    "/staff/residents",
    "/staff/password",
    "/staff/no-such-page",
    "/simulator",
]
OFFICE = [
    "/staff/visits/new",
    "/staff/broadcasts",
    "/staff/broadcasts/new",
    "/staff/requests/import",
    "/staff/outbox",
    "/staff/outbox?status=failed",
]
ADMIN = ["/staff/users", "/staff/audit"]
PAGES = {
    "admin": EVERYONE + OFFICE + ADMIN,
    "staff": EVERYONE + OFFICE + ADMIN,  # the admin pages: 403, in the layout
    "officer": [*EVERYONE, "/staff/broadcasts", "/staff/outbox"],  # 403s
}

# What a finger taps: at least 44 px tall (WCAG 2.5.5's target size).
TAP_TARGETS = (
    "main button, main .button, main select, "
    "main input:not([type=hidden]):not([type=checkbox]):not([type=radio]), header nav a"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
        )
        yield launched
        launched.close()


def logged_in(browser: Browser, server: str, role: str, viewport: dict[str, int]) -> Page:
    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(f"{server}/staff/login")
    page.fill("#username", role)
    page.fill("#password", PASSWORDS[role])
    page.click("main button[type=submit]")
    page.wait_for_url(f"{server}/staff/")
    return page


def with_ids(page: Page, server: str, paths: list[str]) -> list[str]:
    """The role's pages, and the pages of one visit and one broadcast it can open (a broadcast
    to everyone is sent first if there is none yet)."""
    extra = []
    page.goto(f"{server}/staff/visits")
    edit = page.locator('main a[href$="/edit"]').first
    if edit.count():
        href = str(edit.get_attribute("href"))
        extra += [href, href.replace("/edit", "/publish")]
    if "/staff/broadcasts/new" in paths:
        page.goto(f"{server}/staff/broadcasts")
        if not page.locator('main a[href^="/staff/broadcasts/"]:not([href$="new"])').count():
            page.goto(f"{server}/staff/broadcasts/new")
            page.check("input[name=audience][value=all]")
            page.fill("#text", "Kantor tutup hari Senin.")
            page.click("button[value=preview]")
            page.click("button[value=send]")
            page.wait_for_selector("#state")
            page.goto(f"{server}/staff/broadcasts")
        link = page.locator('main a[href^="/staff/broadcasts/"]:not([href$="new"])').first
        extra.append(str(link.get_attribute("href")))
    return [*paths, *extra]


def problems(page: Page, width: int) -> dict[str, Any]:
    """What is wrong with the page at this width, as data (empty when all is well)."""
    found: dict[str, Any] = {}
    scroll = page.evaluate("document.documentElement.scrollWidth")
    if scroll > width:
        found["scrollWidth"] = scroll
        found["too wide"] = page.evaluate(
            """(w) => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > w + 1)
                .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + e.id)""",
            width,
        )
    if width <= PHONE["width"]:
        small = page.evaluate(
            """(selector) => [...document.querySelectorAll(selector)]
                .filter(e => e.offsetParent !== null)
                .filter(e => e.getBoundingClientRect().height < 44)
                .slice(0, 5).map(e => e.outerHTML.slice(0, 80))""",
            TAP_TARGETS,
        )
        if small:
            found["tap targets under 44 px"] = small
        boxes = page.evaluate(
            """() => [...document.querySelectorAll('input[type=checkbox], input[type=radio]')]
                .filter(e => e.offsetParent !== null)
                .filter(e => e.getBoundingClientRect().width < 24)
                .map(e => e.outerHTML.slice(0, 80))"""
        )
        if boxes:
            found["small check boxes"] = boxes
        tiny = page.evaluate(
            """() => [...document.querySelectorAll('svg.chart text')]
                .map(e => e.getBoundingClientRect().height)
                .filter(h => h > 0 && h < 10)"""
        )
        if tiny:
            found["chart text under 10 px"] = tiny[:5]
    return found


@pytest.mark.parametrize("role", ["admin", "staff", "officer"])
def test_every_page_fits_a_phone_and_an_office_screen(
    server: str,
    browser: Browser,
    role: str,
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    failures = {}
    for size, viewport in (("360", PHONE), ("1366", DESKTOP)):
        page = logged_in(browser, server, role, viewport)
        for path in with_ids(page, server, PAGES[role]):
            page.goto(server + path)
            name = path.strip("/").replace("/", "-").replace("?", "-").replace("=", "-")
            page.screenshot(
                path=str(SHOTS / f"{role}-{name or 'dashboard'}-{size}.png"), full_page=True
            )
            found = problems(page, viewport["width"])
            if found:
                failures[f"{size} {path}"] = found
        page.context.close()
    assert failures == {}


def test_the_login_page_and_keypads(server: str, browser: Browser) -> None:
    context = browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(f"{server}/staff/login")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "anonymous-login-360.png"))
    assert problems(page, PHONE["width"]) == {}
    context.close()
    page = logged_in(browser, server, "staff", PHONE)
    page.goto(f"{server}/staff/requests/new")
    assert page.get_attribute("#phone", "inputmode") == "tel"
    assert page.get_attribute("#birth_year", "inputmode") == "numeric"
    # no village is chosen for staff: the placeholder is, and the form refuses it
    assert page.locator("#village").input_value() == ""
    page.goto(f"{server}/staff/outbox")
    assert page.get_attribute("#phone", "inputmode") == "tel"
    page.goto(f"{server}/simulator")
    assert page.get_attribute("#phone", "inputmode") == "tel"
    # a refused dial is said on the phone's screen, not swallowed
    page.fill("#phone", "12")
    page.click("#dial")
    expect(page.locator("#screen")).to_contain_text("Layanan menjawab dengan galat (400).")
    expect(page.locator("#screen")).to_contain_text("bukan nomor HP yang sah")
    page.screenshot(path=str(SHOTS / "staff-simulator-refused-360.png"), full_page=True)
    # a list on a phone is cards: each value under its column's heading
    page.goto(f"{server}/staff/requests")
    label = page.evaluate(
        """() => getComputedStyle(document.querySelector('td[data-label]'), '::before').content"""
    )
    assert label == '"Nomor"'

    # A broadcast to everyone, sent from the phone: then the dashboard has a chart to read.
    page.goto(f"{server}/staff/broadcasts/new")
    page.check("input[name=audience][value=all]")
    page.fill("#text", "Kantor tutup hari Senin.")
    page.click("button[value=preview]")
    page.click("button[value=send]")
    page.wait_for_selector("#state")
    page.screenshot(path=str(SHOTS / "staff-broadcast-progress-360.png"), full_page=True)
    page.goto(f"{server}/staff/")
    heights = page.evaluate(
        """() => [...document.querySelectorAll('svg.chart text')]
            .map(e => e.getBoundingClientRect().height)"""
    )
    assert heights and min(heights) >= 10, heights  # was 6 px before issue 12
    assert problems(page, PHONE["width"]) == {}
    page.screenshot(path=str(SHOTS / "staff-dashboard-chart-360.png"), full_page=True)
    page.context.close()
