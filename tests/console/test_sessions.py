"""Sessions that end: a copy of a console session cookie, taken before a log-out, a password
change, an admin's reset or the log-in switched off, opens nothing after it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select

from storage.db import Database
from storage.models import User
from tests.console.helpers import PASSWORDS, Browser, World, logged_in

NEW_PASSWORD = "kopi-tubruk-pagi-hari"


def copy_of(browser: Browser, app: Flask) -> Browser:
    """Another browser holding the same session cookie (saved, stolen, or on another PC)."""
    cookie = browser.client.get_cookie("session")
    assert cookie is not None
    other = Browser(app, browser.addr)
    other.client.set_cookie("session", cookie.value)
    other.token = browser.token
    return other


def log_out(app: Flask, user: Browser) -> None:
    assert user.post("/staff/logout").status_code == 302


def change_own_password(app: Flask, user: Browser) -> None:
    response = user.post(
        "/staff/password",
        {"current": PASSWORDS["staff"], "new": NEW_PASSWORD, "again": NEW_PASSWORD},
    )
    assert (response.status_code, response.headers["Location"]) == (302, "/staff/")


def admin_resets_password(app: Flask, user: Browser) -> None:
    admin = logged_in(app, "admin")
    response = admin.post("/staff/users/staff/password", {"password": NEW_PASSWORD})
    assert response.status_code == 302


def admin_switches_off(app: Flask, user: Browser) -> None:
    admin = logged_in(app, "admin")
    assert admin.post("/staff/users/staff/active", {"active": ""}).status_code == 302


@pytest.mark.parametrize(
    "event", [log_out, change_own_password, admin_resets_password, admin_switches_off]
)
def test_a_saved_cookie_is_refused_after(
    app: Flask, world: World, event: Callable[[Flask, Browser], None]
) -> None:
    user = logged_in(app, "staff")
    saved = copy_of(user, app)
    other_pc = logged_in(app, "staff")
    assert saved.get("/staff/requests").status_code == 200  # the copy works until then
    event(app, user)
    for browser in (saved, other_pc):
        page = browser.get("/staff/requests")
        assert page.status_code == 302
        assert page.headers["Location"] == "/staff/login?next=%2Fstaff%2Frequests"
        assert browser.post("/staff/requests/status", {"numbers": ["x"]}).status_code in (
            302,
            400,
        )
    # who changed their own password stays logged in, under the new version
    still_in = event is change_own_password
    assert (user.get("/staff/requests").status_code == 200) == still_in


def test_the_user_logs_in_again_and_other_users_are_untouched(
    app: Flask, world: World, db: Database
) -> None:
    staff = logged_in(app, "staff")
    officer = logged_in(app, "officer")
    log_out(app, staff)
    assert officer.get("/staff/requests").status_code == 200
    again = logged_in(app, "staff")
    assert again.get("/staff/requests").status_code == 200
    with db.begin() as session:
        versions = {u.username: u.session_version for u in session.scalars(select(User))}
    assert versions == {"admin": 0, "staff": 1, "officer": 0}


def test_a_cookie_naming_no_version_or_a_forged_one_is_refused(app: Flask, world: World) -> None:
    """Cookies made before this change name the user's id alone: they log in again once."""
    browser = Browser(app)
    with browser.client.session_transaction("/staff/") as session:
        session["_user_id"] = "2"
        session["_fresh"] = True
    assert browser.get("/staff/").status_code == 302
    for forged in ("2:", "2:x", ":0", "2:0:0", "2:-1", "9" * 50 + ":0", "2:99"):
        with browser.client.session_transaction("/staff/") as session:
            session["_user_id"] = forged
        assert browser.get("/staff/").status_code == 302, forged
