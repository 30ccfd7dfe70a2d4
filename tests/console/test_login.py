"""Log-in, log-out, the session cookie, and CSRF: the console keeps CSRF protection on in
these tests, and every browser posts the token its pages carry. (The throttle on failed
log-ins: test_login_throttle.py.)"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import select

from common.local_time import local_today
from storage.db import Database
from storage.models import User
from tests.console.helpers import (
    GRANNY,
    PASSWORDS,
    R1,
    Browser,
    World,
    flashes,
    logged_in,
    outbox_rows,
    request_state,
    snapshot,
)
from tests.helpers import TEMBOK


def test_login_lands_on_the_dashboard(app: Flask, world: World) -> None:
    browser = Browser(app)
    assert "Masuk" in browser.open_login()  # Indonesian by default
    response = browser.login("staff")
    assert (response.status_code, response.headers["Location"]) == (302, "/staff/")
    page = browser.get("/staff/")
    assert page.status_code == 200
    assert "<h1>Ringkasan</h1>" in page.text
    assert "<span>staff (petugas)</span>" in page.text
    # logged in, the log-in page sends the user to the dashboard
    again = browser.get("/staff/login")
    assert (again.status_code, again.headers["Location"]) == (302, "/staff/")


def test_wrong_credentials_are_refused_alike(app: Flask, world: World) -> None:
    tries = [
        ("staff", "staff-demo-124"),
        ("staff", ""),
        ("nobody", "staff-demo-123"),
        ("Staff", "staff-demo-123"),
    ]  # user names are exact
    for i, (username, password) in enumerate(tries):
        browser = Browser(app, f"10.1.0.{i}")
        response = browser.login(username, password)
        assert response.status_code == 401, username
        assert flashes(response.get_data(as_text=True)) == [
            ("error", "Nama pengguna atau kata sandi salah.")
        ]
        assert browser.get("/staff/").headers["Location"] == "/staff/login?next=%2Fstaff%2F"


def test_an_inactive_user_cannot_log_in_and_is_logged_out(
    app: Flask, world: World, db: Database
) -> None:
    browser = logged_in(app, "staff")
    with db.begin() as session:
        session.scalars(select(User).where(User.username == "staff")).one().active = False
    assert browser.get("/staff/").status_code == 302  # the open session ends too
    assert Browser(app).login("staff").status_code == 401


def test_login_goes_back_to_the_page_asked_for(app: Flask, world: World) -> None:
    browser = Browser(app)
    response = browser.get("/staff/requests?q=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/login?next=%2Fstaff%2Frequests%3Fq%3D1"
    response = browser.login("staff", next_url="/staff/requests?q=1")
    assert response.headers["Location"] == "/staff/requests?q=1"


def test_login_never_redirects_off_site(app: Flask, world: World) -> None:
    for target in (
        "//evil.example/x",
        "https://evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
    ):
        response = Browser(app).login("staff", next_url=target)
        assert response.status_code == 302
        location = response.headers["Location"]
        assert urlsplit(location).netloc == "" and urlsplit(location).scheme == "", target
        assert location.startswith("/") and not location.startswith(("//", "/\\")), target


def test_fewer_than_five_failures_do_not_lock_anyone_out(app: Flask, world: World) -> None:
    for _ in range(4):
        assert Browser(app).login("officer", "salah-salah").status_code == 401
    assert Browser(app).login("officer").status_code == 302


def test_session_cookie_is_http_only(app: Flask, world: World) -> None:
    response = Browser(app).login("staff")
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert len(cookies) == 1
    assert "; HttpOnly" in cookies[0]


def test_session_cookie_is_same_site_lax_and_secure_in_production(
    app: Flask, world: World, backend: str
) -> None:
    response = Browser(app).login("staff")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    attributes = {part.strip().split("=")[0] for part in cookie.split(";")[1:]}
    assert "SameSite=Lax" in cookie
    # the embedded default is a demo on plain http://localhost; production is behind HTTPS
    assert ("Secure" in attributes) == (backend == "production")


def test_logout_is_post_only(app: Flask, world: World) -> None:
    browser = logged_in(app, "staff")
    assert browser.get("/staff/logout").status_code == 405
    assert browser.post("/staff/logout", token=False).status_code == 400
    assert browser.get("/staff/").status_code == 200  # still logged in
    response = browser.post("/staff/logout")
    assert (response.status_code, response.headers["Location"]) == (302, "/staff/login")
    assert browser.get("/staff/").headers["Location"] == "/staff/login?next=%2Fstaff%2F"


# --- CSRF ---------------------------------------------------------------------------------------


def test_a_post_without_a_valid_csrf_token_is_refused(staff: Browser, db: Database) -> None:
    before = snapshot(db)
    change = {"numbers": [R1], "status": "collected"}
    for token in (None, "", "bukan-token", staff.token[:-2] + "xx"):
        data = dict(change) if token is None else {**change, "csrf_token": token}
        response = staff.post("/staff/requests/status", data, token=False)
        assert response.status_code == 400
        # Shown again to be sent with a fresh token: the choice kept, nothing saved.
        assert "<h1>Tekan lagi untuk menyimpan</h1>" in response.text
        assert f'<input type="hidden" name="numbers" value="{R1}">' in response.text
        assert '<input type="hidden" name="status" value="collected">' in response.text
    new_visit = {
        "village": TEMBOK,
        "date": f"{local_today() + dt.timedelta(days=3)}",
        "start": "09:00",
        "end": "12:00",
        "place": "Balai",
    }
    response = staff.post("/staff/visits/new", new_visit, token=False)
    assert response.status_code == 400
    assert '<input id="place" name="place" required maxlength="120" value="Balai">' in response.text
    assert f'<option value="{TEMBOK}" selected>' in response.text
    assert "formulirnya kedaluwarsa" in response.text
    assert snapshot(db) == before
    assert request_state(db, R1) == ("ready", "Kantor Desa Tembok", 1)
    # the same form with its token goes through
    assert staff.post("/staff/requests/status", change).status_code == 302
    assert request_state(db, R1) == ("collected", "Kantor Desa Tembok", 2)


def test_a_token_from_another_session_is_refused(app: Flask, staff: Browser, db: Database) -> None:
    other = logged_in(app, "admin")
    before = snapshot(db)
    response = staff.post(
        "/staff/requests/status",
        {"numbers": [R1], "status": "collected", "csrf_token": other.token},
        token=False,
    )
    assert response.status_code == 400
    assert snapshot(db) == before


def test_login_needs_the_csrf_token(app: Flask, world: World) -> None:
    browser = Browser(app)
    browser.open_login()
    response = browser.post(
        "/staff/login", {"username": "staff", "password": PASSWORDS["staff"]}, token=False
    )
    assert response.status_code == 400
    assert browser.get("/staff/").status_code == 302


def test_the_webhooks_need_no_csrf_token(staff: Browser, db: Database) -> None:
    """Machines post to /ussd and /sms/*; a browser's session cookie changes nothing."""
    for client in (staff.client, staff.client.application.test_client()):
        response = client.post(
            "/ussd",
            data={
                "sessionId": f"ATUid_{id(client)}",
                "serviceCode": "*123#",
                "phoneNumber": GRANNY,
                "networkCode": "51010",
                "text": "",
            },
        )
        assert response.status_code == 200
        assert response.get_data(as_text=True).startswith("CON ")
    response = staff.client.post(
        "/sms/inbound",
        data={
            "from": GRANNY,
            "to": "98765",
            "text": "BANTUAN",
            "date": "2026-11-28 10:00:00",
            "id": "ATXid_in_1",
            "linkId": "l1",
            "networkCode": "51010",
        },
    )
    assert (response.status_code, response.get_data(as_text=True)) == (200, "ok\n")
    assert [m.dedupe_key for m in outbox_rows(db)] == ["inbound:ATXid_in_1:0"]
    response = staff.client.post(
        "/sms/delivery",
        data={
            "id": "ATXid_unknown",
            "status": "Success",
            "phoneNumber": GRANNY,
            "networkCode": "51010",
            "retryCount": "0",
        },
    )
    assert response.status_code == 200
