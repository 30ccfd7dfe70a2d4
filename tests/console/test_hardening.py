"""Headers and policy: every console and simulator page carries a strict Content-Security-Policy
(no inline code: the pages' scripts and styles are files), frame-ancestors 'none',
X-Content-Type-Options and Referrer-Policy; passwords of 12 characters or more that guessers
do not try first, in the console and the CLI; the simulator plays no default number outside
the embedded demo."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from gateway import create_app
from gateway.runtime import runtime
from storage.db import Database
from tests.console.helpers import (
    PASSWORDS,
    Browser,
    World,
    audit_log,
    cli,
    flashes,
    logged_in,
    snapshot,
)
from tests.console.test_roles import PAGES, _url

EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=|\son[a-z]+=", re.I)


def check_headers(response: Any, where: str) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (where, name)
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'self'", where
    assert policy["script-src"] == "'self'", where
    assert policy["style-src"] == "'self'", where
    assert policy["frame-ancestors"] == "'none'", where
    assert "unsafe" not in response.headers["Content-Security-Policy"], where


def test_every_console_page_carries_the_headers(app: Flask, world: World) -> None:
    anonymous = Browser(app)
    for path in ("/staff/login", "/staff/nowhere", "/simulator", "/static/style.css"):
        response = anonymous.get(path)
        check_headers(response, path)
        response.close()
    admin = logged_in(app, "admin")
    pages = [_url(template, world) for template in PAGES]
    pages += ["/simulator", "/staff/password", "/staff/visits/2147483648/edit", "/staff/?q=\x00"]
    for path in pages:
        response = admin.get(path)
        assert response.status_code in (200, 400, 404), path
        check_headers(response, path)
        assert response.headers["Cache-Control"] == "no-store", path
        if response.mimetype == "text/html":
            # what the policy would block: the pages have none of it
            assert not INLINE_SCRIPT.search(response.text), path
            assert not INLINE_STYLE.search(response.text), path
    check_headers(admin.post("/staff/logout"), "logout")


def test_a_page_over_https_asks_for_https_next_time(app: Flask, world: World) -> None:
    response = app.test_client().get("/staff/login", base_url="https://gateway.example")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in Browser(app).get("/staff/login").headers


# --- passwords -------------------------------------------------------------------------------

WEAK = [
    ("1234567890", "short"),  # the example
    ("kopi-pendek", "short"),
    ("123456789012", "common"),
    ("qwertyuiop12", "common"),
    ("password1234", "common"),
    ("P4ssw0rd!2026", "common"),
    ("Buleleng2026!", "common"),
    ("disdukcapil1", "common"),
    ("aaaaaaaaaaaa", "common"),
    ("sayangku12345", "common"),
]
GOOD = "kopi-tubruk-pagi-hari"
SHORT_NEW = "Nama pengguna, dan kata sandi 12 karakter atau lebih."
SHORT = "Kata sandi 12 karakter atau lebih."
COMMON = "Kata sandi itu termasuk yang pertama dicoba penebak: pilih yang lain."


def test_weak_passwords_are_refused_in_the_console(
    app: Flask, admin: Browser, db: Database
) -> None:
    before = snapshot(db)
    for password, why in WEAK:
        response = admin.post(
            "/staff/users", {"role": "staff", "username": "baru", "password": password}
        )
        assert response.status_code == 200  # the form again
        page = response.text
        assert flashes(page) == [("error", SHORT_NEW if why == "short" else COMMON)], password
        response = admin.post("/staff/users/staff/password", {"password": password})
        page = admin.follow(response, "/staff/users")
        assert flashes(page) == [("error", SHORT if why == "short" else COMMON)], password
        response = admin.post(
            "/staff/password",
            {"current": PASSWORDS["admin"], "new": password, "again": password},
        )
        page = admin.follow(response, "/staff/password")
        assert flashes(page) == [("error", SHORT if why == "short" else COMMON)], password
    assert snapshot(db) == before
    # a password made of the user's own name is refused too
    response = admin.post("/staff/users/staff/password", {"password": "staff-staff-1"})
    assert flashes(admin.follow(response, "/staff/users")) == [("error", COMMON)]
    for password in ("baru-baru-12", "Baru.2026.baru"):
        response = admin.post(
            "/staff/users", {"role": "staff", "username": "baru", "password": password}
        )
        assert flashes(response.text) == [("error", COMMON)]
    response = admin.post("/staff/users", {"role": "staff", "username": "baru", "password": GOOD})
    assert flashes(admin.follow(response, "/staff/users")) == [("ok", "Pengguna dibuat.")]
    assert Browser(app).login("baru", GOOD).status_code == 302
    assert audit_log(db)[-1][1] == "user.create"


def test_weak_passwords_are_refused_by_users_create(app: Flask, runner: Any) -> None:
    for password, why in WEAK:
        result = cli(
            runner, "users", "create", "--username", "kadis", "--role", "admin",
            "--password", password,
        )  # fmt: skip
        assert result.exit_code == 2, password
        reason = (
            "at least 12 characters" if why == "short" else "a password that guessers try first"
        )
        assert f"Error: Invalid value for --password: {reason}" in result.output, password
    result = cli(
        runner, "users", "create", "--username", "kadis", "--role", "admin",
        "--password", "kadis-kadis-2026",
    )  # fmt: skip
    assert "guessers try first" in result.output
    result = cli(
        runner, "users", "create", "--username", "kadis", "--role", "admin", "--password", GOOD
    )
    assert (result.exit_code, result.output) == (0, "user kadis (admin) created\n")


# --- the simulator's numbers -----------------------------------------------------------------


@pytest.mark.parametrize("numbers", [None, ["+6281311112222"]])
def test_the_simulator_plays_no_default_number_in_production(
    app_config: dict[str, Any], backend: str, numbers: list[str] | None
) -> None:
    settings = {} if numbers is None else {"SIMULATOR_NUMBERS": numbers}
    app = create_app({"TESTING": True, **app_config, **settings})
    try:
        assert cli(app.test_cli_runner(), "demo", "--force").exit_code == 0
        staff = logged_in(app, "staff")
        page = staff.get("/simulator").text
        token = re.search(r'data-csrf="([^"]+)"', page)
        assert token is not None
        shown = re.search(r'<input id="phone"[^>]* value="([^"]*)"', page)
        assert shown is not None

        def dial(phone: str) -> int:
            return staff.client.post(
                "/simulator/dial",
                json={"phone": phone, "text": ""},
                headers={"X-CSRFToken": token.group(1)},
            ).status_code

        if backend == "embedded":  # the demo: any number, the grandmother's shown first
            assert shown.group(1) == (numbers[0] if numbers else "+6281200000001")
            assert dial("+6281200000001") == 200
        elif numbers is None:
            assert shown.group(1) == ""
            assert dial("+6281200000001") == 403  # the old defaults are nobody's test phone
            response = staff.client.post(
                "/simulator/dial",
                json={"phone": "+6281200000001", "text": ""},
                headers={"X-CSRFToken": token.group(1)},
            )
            assert response.get_json()["error"] == "no test numbers are set (SIMULATOR_NUMBERS)"
        else:
            assert shown.group(1) == numbers[0]
            assert dial(numbers[0]) == 200
            assert dial("+6281200000001") == 403
    finally:
        runtime(app).db.dispose()
