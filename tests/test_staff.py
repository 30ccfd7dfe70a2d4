"""The staff console (SPEC §5; issue "Accounts and access") through Flask's test client, on both
configurations: accounts and the CLI that makes them, log-in and its throttle, session cookie,
CSRF, every page for every role, the audit log, a village officer's fence around their village,
the interface translation, and the phone simulator.

The console keeps CSRF protection on in these tests: every browser here logs in through the real
form and posts the token its pages carry, as a real browser does.

Argon2 with its production cost takes about half a second a hash on a test machine; the tests
use the same algorithm with a tiny cost (``cheap_argon2``), except the one that checks the
production parameters.
"""

from __future__ import annotations

import ast
import csv
import dataclasses
import datetime as dt
import html
import io
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from argon2 import PasswordHasher
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from werkzeug.test import TestResponse

import gateway
from common.local_time import LOCAL_TZ, local_today
from common.segments import count_segments
from flows import journeys
from flows.engine import load_flow
from gateway import create_app
from gateway.console import auth
from gateway.runtime import runtime
from storage import numbers, outbox, queries
from storage.db import Database
from storage.models import (
    AuditEntry,
    Base,
    Broadcast,
    DocumentRequest,
    HomeVisitBooking,
    OutboxMessage,
    ReminderSubscription,
    RequestStatusChange,
    Resident,
    User,
    UssdSessionLog,
    VillageVisit,
    utcnow,
)
from storage.vocab import (
    BOOKING_REASONS,
    BOOKING_SERVICES,
    BOOKING_STATUSES,
    DOC_TYPES,
    REQUEST_STATUSES,
)
from tests.conftest import Phone

TEMBOK = "51.08.09.2010"
KAYUPUTIH = "51.08.05.2015"  # Kayuputih in Sukasada
PASSWORDS = {"admin": "admin-demo-123", "staff": "staff-demo-123", "officer": "officer-demo-123"}

# The demo's requests: 1000001…1000006 with their check digits.
R1, R2, R3, R4, R5, R6 = (numbers.with_check_digit(f"1000{i:03d}") for i in range(1, 7))
TEMBOK_REQUESTS = {R1, R2, R6}  # 001 ready, 002 processing, 006 ready
KAYUPUTIH_REQUESTS = {R3, R4, R5}  # 003 submitted, 004 collected, 005 rejected
GRANNY = "+6281200000001"  # demo resident of Tembok, Indonesian
ENGLISH = "+6281200000002"  # demo resident of Kayuputih, English
NEIGHBOUR_EN = "+6281277770001"  # Tembok, English
NEIGHBOUR_STOP = "+6281277770002"  # Tembok, opted out
SUBSCRIBER = "+6281277770004"  # no village; asked to be told of Tembok's visits

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
FLASH = re.compile(r'<p class="flash (ok|error)" role="(?:alert|status)">(.*?)</p>', re.S)
REPO = Path(gateway.__file__).resolve().parent
TEMPLATES = (REPO / "templates", REPO / "console" / "templates")


# --- helpers ------------------------------------------------------------------------------------


def csrf_in(page: str) -> str:
    found = TOKEN.search(page)
    assert found is not None, "the page has no csrf_token field"
    return found.group(1)


def flashes(page: str) -> list[tuple[str, str]]:
    return [(kind, html.unescape(text)) for kind, text in FLASH.findall(page)]


class Browser:
    """One browser: its own cookies, and the CSRF token its pages carry."""

    def __init__(self, app: Flask, addr: str = "127.0.0.1") -> None:
        self.client: FlaskClient = app.test_client()
        self.addr = addr
        self.token = ""

    def get(self, path: str) -> TestResponse:
        return self.client.get(path, environ_base={"REMOTE_ADDR": self.addr})

    def open_login(self) -> str:
        page = self.get("/staff/login")
        assert page.status_code == 200
        self.token = csrf_in(page.text)
        return page.text

    def login(
        self, username: str, password: str | None = None, next_url: str | None = None
    ) -> TestResponse:
        self.open_login()
        path = "/staff/login" + (f"?next={quote(next_url, safe='')}" if next_url else "")
        return self.post(
            path,
            {
                "username": username,
                "password": PASSWORDS.get(username, "") if password is None else password,
            },
        )

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, token: bool = True, **kwargs: Any
    ) -> TestResponse:
        form = dict(data or {})
        if token:
            form["csrf_token"] = self.token
        return self.client.post(path, data=form, environ_base={"REMOTE_ADDR": self.addr}, **kwargs)

    def follow(self, response: TestResponse, location: str) -> str:
        """The response redirects to ``location``; the page there, with its flashes."""
        assert response.status_code == 302, response.get_data(as_text=True)
        assert response.headers["Location"] == location
        page = self.get(location)
        assert page.status_code == 200
        return page.text


def count(db: Database, model: type[Base], *where: Any) -> int:
    with db.begin() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def audit_log(db: Database) -> list[tuple[Any, ...]]:
    """(actor, action, entity, entity_id, before, after), oldest first, JSON decoded."""
    with db.begin() as session:
        return [
            (
                e.actor,
                e.action,
                e.entity,
                e.entity_id,
                None if e.before is None else json.loads(e.before),
                None if e.after is None else json.loads(e.after),
            )
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]


def outbox_rows(db: Database, *where: Any) -> list[OutboxMessage]:
    with db.begin() as session:
        rows = list(session.scalars(select(OutboxMessage).where(*where).order_by(OutboxMessage.id)))
        session.expunge_all()
    return rows


def request_state(db: Database, number: str) -> tuple[str, str | None, int]:
    """Status, pickup place, and how many status changes the request has (its first
    status counts as one)."""
    with db.begin() as session:
        found = queries.find_request(session, number)
        assert found is not None
        return found.status, found.pickup_place, len(found.history)


def snapshot(db: Database) -> dict[str, int]:
    """Row counts of everything a console action may write."""
    return {
        m.__name__: count(db, m)
        for m in (
            AuditEntry,
            OutboxMessage,
            Broadcast,
            DocumentRequest,
            RequestStatusChange,
            VillageVisit,
            User,
        )
    }


def as_utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def cli(runner: Any, *args: str, **kwargs: Any) -> Result:
    return runner.invoke(args=list(args), **kwargs)  # type: ignore[no-any-return]


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id still, at a cost a test suite can afford (verification reads it from the hash)."""
    monkeypatch.setattr(auth, "hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def db(app: Flask) -> Database:
    return runtime(app).db


@dataclass
class World:
    """The demo data (three accounts, six requests, a booking, three visits), plus a neighbour
    or two so that every list has something to hide from a village officer."""

    demo_output: str
    visit_tembok: int
    visit_other: int  # Tamblang
    booking_tembok: str
    booking_kayuputih: str
    resident_tembok: int  # the demo grandmother
    resident_kayuputih: int
    broadcast: int


@pytest.fixture
def world(runner: Any, db: Database) -> World:
    result = cli(runner, "demo")
    assert result.exit_code == 0, result.output
    with db.begin() as session:
        queries.upsert_resident(session, NEIGHBOUR_EN, village_code=TEMBOK, language="en")
        queries.upsert_resident(session, NEIGHBOUR_STOP, village_code=TEMBOK).opted_out = True
        session.add(
            ReminderSubscription(
                phone=SUBSCRIBER, kind="visit_published", village_code=TEMBOK, language="id"
            )
        )
        tembok_booking, _ = queries.create_booking(
            session,
            phone=GRANNY,
            for_whom="self",
            reason="sick",
            service="kk",
            village_code=TEMBOK,
            hamlet="Banjar Kelod",
        )
        kayuputih_booking = session.scalars(
            select(HomeVisitBooking).where(HomeVisitBooking.village_code == KAYUPUTIH)
        ).one()
        visits = {v.village_code: v.id for v in session.scalars(select(VillageVisit))}
        residents = {r.phone: r.id for r in session.scalars(select(Resident))}
        broadcast = Broadcast(
            kind="custom",
            audience="all",
            body="Uji",
            status="planned",
            recipients=0,
            created_by="staff",
        )
        session.add(broadcast)
        session.flush()
        return World(
            result.output,
            visits[TEMBOK],
            visits["51.08.08.2007"],
            tembok_booking.number,
            kayuputih_booking.number,
            residents[GRANNY],
            residents[ENGLISH],
            broadcast.id,
        )


def logged_in(app: Flask, username: str) -> Browser:
    browser = Browser(app)
    response = browser.login(username)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == "/staff/"
    return browser


@pytest.fixture
def admin(app: Flask, world: World) -> Browser:
    return logged_in(app, "admin")


@pytest.fixture
def staff(app: Flask, world: World) -> Browser:
    return logged_in(app, "staff")


@pytest.fixture
def officer(app: Flask, world: World) -> Browser:
    return logged_in(app, "officer")


# --- accounts: the CLI ------------------------------------------------------------------------


def test_demo_prints_one_account_per_role(world: World, db: Database) -> None:
    assert (
        "Demo data loaded. Staff console log-ins (user / password):\n"
        "  admin      admin-demo-123   admin\n"
        "  staff      staff-demo-123   staff\n"
        "  officer    officer-demo-123 village_officer\n"
    ) in world.demo_output
    with db.begin() as session:
        users = {
            u.username: (u.role, u.village_code, u.active, u.password_hash[:10])
            for u in session.scalars(select(User))
        }
    assert users == {
        "admin": ("admin", None, True, "$argon2id$"),
        "staff": ("staff", None, True, "$argon2id$"),
        "officer": ("village_officer", TEMBOK, True, "$argon2id$"),
    }


def test_users_create_makes_the_first_admin(app: Flask, runner: Any, db: Database) -> None:
    result = cli(
        runner,
        "users",
        "create",
        "--username",
        "kadis",
        "--role",
        "admin",
        "--password",
        "satu-dua-tiga-4",
    )
    assert (result.exit_code, result.output) == (0, "user kadis (admin) created\n")
    assert audit_log(db) == [
        ("cli", "user.create", "user", "kadis", None, {"role": "admin", "village_code": None})
    ]
    browser = Browser(app)
    response = browser.login("kadis", "satu-dua-tiga-4")
    assert (response.status_code, response.headers["Location"]) == (302, "/staff/")
    assert "<span>kadis (admin)</span>" in browser.get("/staff/users").text


def test_users_create_an_officer_by_village_name(runner: Any, db: Database) -> None:
    result = cli(
        runner,
        "users",
        "create",
        "--username",
        "perbekel",
        "--role",
        "village_officer",
        "--village",
        "tembok",
        "--password",
        "rahasia-desa",
    )
    assert (result.exit_code, result.output) == (0, "user perbekel (village_officer) created\n")
    with db.begin() as session:
        user = session.scalars(select(User)).one()
        assert (user.username, user.role, user.village_code, user.language) == (
            "perbekel",
            "village_officer",
            TEMBOK,
            "id",
        )


def test_users_create_reads_the_password_from_the_environment(app: Flask, runner: Any) -> None:
    result = cli(
        runner,
        "users",
        "create",
        "--username",
        "operator",
        "--role",
        "staff",
        env={"GATEWAY_NEW_PASSWORD": "dari-lingkungan"},
    )
    assert (result.exit_code, result.output) == (0, "user operator (staff) created\n")
    assert Browser(app).login("operator", "dari-lingkungan").status_code == 302


def test_users_create_asks_for_the_password_twice(app: Flask, runner: Any) -> None:
    result = cli(
        runner,
        "users",
        "create",
        "--username",
        "tanya",
        "--role",
        "staff",
        input="ditanya-dulu\nditanya-dulu\n",
    )
    assert result.exit_code == 0, result.output
    assert result.output.endswith("user tanya (staff) created\n")
    assert "ditanya-dulu" not in result.output  # hidden input
    assert Browser(app).login("tanya", "ditanya-dulu").status_code == 302


USERS_CREATE_ERRORS = {
    (
        "--username",
        "admin",
        "--role",
        "staff",
        "--password",
        "long-enough-1",
    ): "Error: user 'admin' already exists",
    (
        "--username",
        "baru",
        "--role",
        "staff",
        "--password",
        "pendek123",
    ): "Error: Invalid value for --password: at least 10 characters",
    (
        "--username",
        "baru",
        "--role",
        "village_officer",
        "--password",
        "long-enough-1",
    ): "Error: Invalid value for --village: a village officer needs --village",
    (
        "--username",
        "baru",
        "--role",
        "village_officer",
        "--village",
        "Atlantis",
        "--password",
        "long-enough-1",
    ): "Error: Invalid value for --village: no village with code or name 'Atlantis'",
    (
        "--username",
        "baru",
        "--role",
        "root",
        "--password",
        "long-enough-1",
    ): "Error: Invalid value for '--role': 'root' is not one of 'admin', 'staff', "
    "'village_officer'.",
}


def test_users_create_errors(world: World, runner: Any, db: Database) -> None:
    """Each mistake: a non-zero exit, one ``Error:`` line, no traceback, nothing written."""
    before = snapshot(db)
    got = {}
    for args in USERS_CREATE_ERRORS:
        result = cli(runner, "users", "create", *args)
        assert result.exit_code != 0, args
        assert result.exception is None or isinstance(result.exception, SystemExit), args
        assert result.stdout == "", args
        got[args] = "\n".join(
            line for line in result.stderr.splitlines() if line.startswith("Error:")
        )
    assert got == USERS_CREATE_ERRORS
    assert snapshot(db) == before


def test_passwords_are_stored_as_argon2id_with_production_cost(
    app: Flask, runner: Any, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "hasher", PasswordHasher())  # the product's own settings
    assert (
        cli(
            runner,
            "users",
            "create",
            "--username",
            "kadis",
            "--role",
            "admin",
            "--password",
            "satu-dua-tiga-4",
        ).exit_code
        == 0
    )
    with db.begin() as session:
        stored = session.scalars(select(User.password_hash)).one()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "satu-dua-tiga-4" not in stored
    assert PasswordHasher().verify(stored, "satu-dua-tiga-4")
    assert not PasswordHasher().check_needs_rehash(stored)
    assert Browser(app).login("kadis", "satu-dua-tiga-4").status_code == 302


# --- log-in, log-out, session cookie ------------------------------------------------------------


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


def test_throttle_per_user_name(app: Flask, world: World, db: Database) -> None:
    """Five wrong passwords for one name, from five addresses: the sixth try is refused, even
    with the right password, and even from a new address; other names still get in."""
    for i in range(5):
        response = Browser(app, f"10.0.0.{i}").login("admin", "tebak-tebak")
        assert response.status_code == 401
    for password in ("tebak-lagi", PASSWORDS["admin"]):
        browser = Browser(app, "10.0.1.1")
        response = browser.login("ADMIN" if password != PASSWORDS["admin"] else "admin", password)
        assert response.status_code == 429
        assert flashes(response.get_data(as_text=True)) == [
            ("error", "Terlalu banyak gagal masuk. Tunggu 15 menit.")
        ]
        assert browser.get("/staff/").status_code == 302  # not logged in
    assert Browser(app, "10.0.1.2").login("staff").status_code == 302
    assert [a for a in audit_log(db) if a[1].startswith("user")] == []


def test_throttle_per_address(app: Flask, world: World) -> None:
    """Guessing across many names from one address is stopped as well."""
    for name in ("a", "b", "c", "d", "e"):
        assert Browser(app, "10.9.9.9").login(name, "tebak-tebak").status_code == 401
    assert Browser(app, "10.9.9.9").login("staff").status_code == 429
    assert Browser(app, "10.9.9.8").login("staff").status_code == 302


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
        assert response.get_data(as_text=True) == "Bad Request\n"
    new_visit = {
        "village": TEMBOK,
        "date": f"{local_today() + dt.timedelta(days=3)}",
        "start": "09:00",
        "end": "12:00",
        "place": "Balai",
    }
    assert staff.post("/staff/visits/new", new_visit, token=False).status_code == 400
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


# --- every page, every role ---------------------------------------------------------------------

ALL = {"admin", "staff", "officer"}
OFFICE = {"admin", "staff"}
ADMIN = {"admin"}

PAGES: dict[str, set[str]] = {
    "/staff/": ALL,
    "/staff/visits": ALL,
    "/staff/visits?past=1": ALL,
    "/staff/visits/new": OFFICE,
    "/staff/visits/{visit}/edit": OFFICE,
    "/staff/visits/{visit}/publish": OFFICE,
    "/staff/broadcasts": OFFICE,
    "/staff/broadcasts/new": OFFICE,
    "/staff/broadcasts/{broadcast}": OFFICE,
    "/staff/broadcasts/{broadcast}/progress.json": OFFICE,
    "/staff/requests": ALL,
    f"/staff/requests?q={R1}&status=ready": ALL,
    "/staff/requests/new": ALL,
    "/staff/requests/import": OFFICE,
    "/staff/bookings": ALL,
    "/staff/bookings?status=&district=51.08.05": ALL,
    "/staff/outbox": OFFICE,
    "/staff/outbox?status=failed&phone=0812-0000-0001": OFFICE,
    "/staff/residents": ALL,
    "/staff/residents?q=tembok": ALL,
    "/staff/users": ADMIN,
    "/staff/audit": ADMIN,
}

ACTIONS: dict[str, set[str]] = {
    "/staff/visits/new": OFFICE,
    "/staff/visits/{visit}/edit": OFFICE,
    "/staff/visits/{visit}/publish": OFFICE,
    "/staff/visits/{visit}/cancel": OFFICE,
    "/staff/broadcasts/new": OFFICE,
    "/staff/broadcasts/{broadcast}/cancel": OFFICE,
    "/staff/requests/import": OFFICE,
    "/staff/bookings/{booking}/done": OFFICE,
    "/staff/bookings/{booking}/schedule": OFFICE,
    "/staff/outbox/retry": OFFICE,
    "/staff/residents/{resident}": OFFICE,
    "/staff/users": ADMIN,
}


def _url(template: str, world: World) -> str:
    return template.format(
        visit=world.visit_tembok,
        broadcast=world.broadcast,
        booking=world.booking_tembok,
        resident=world.resident_tembok,
    )


@pytest.mark.parametrize("who", ["admin", "staff", "officer", "anonymous"])
def test_every_page_for_each_role(
    app: Flask, world: World, db: Database, who: str, backend: str
) -> None:
    browser = Browser(app)
    if who == "anonymous":
        browser.open_login()
    else:
        assert browser.login(who).status_code == 302
    got: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    for template, allowed in PAGES.items():
        path = _url(template, world)
        response = browser.get(path)
        got[path] = (response.status_code, response.headers.get("Location"))
        if who == "anonymous":
            expected[path] = (302, f"/staff/login?next={quote(path, safe='')}")
        else:
            expected[path] = (200 if who in allowed else 403, None)
        if response.status_code == 200:
            kind = "application/json" if path.endswith(".json") else "text/html; charset=utf-8"
            assert response.headers["Content-Type"] == kind, path
    simulator = browser.get("/simulator")
    got["/simulator"] = (simulator.status_code, simulator.headers.get("Location"))
    expected["/simulator"] = (
        (302, "/staff/login?next=%2Fsimulator")
        if who == "anonymous" and backend == "production"
        else (200, None)
    )
    assert got == expected


@pytest.mark.parametrize("who", ["staff", "officer", "anonymous"])
def test_forbidden_actions_change_nothing(app: Flask, world: World, db: Database, who: str) -> None:
    browser = Browser(app)
    if who == "anonymous":
        browser.open_login()  # a valid token, for a session that is not logged in
    else:
        assert browser.login(who).status_code == 302
    before = snapshot(db)
    form = {
        "village": TEMBOK,
        "date": f"{local_today() + dt.timedelta(days=3)}",
        "time": "10:00",
        "start": "09:00",
        "end": "12:00",
        "place": "Pura",
        "text": "Halo",
        "step": "send",
        "audience": "all",
        "username": "baru",
        "password": "panjang-sekali",
        "role": "admin",
        "opted_out": "1",
        "language": "en",
    }
    got, expected = {}, {}
    for template, allowed in ACTIONS.items():
        if who in allowed:
            continue
        path = _url(template, world)
        response = browser.post(path, form)
        got[path] = response.status_code
        expected[path] = 302 if who == "anonymous" else 403
        if who == "anonymous":
            assert response.headers["Location"] == f"/staff/login?next={quote(path, safe='')}"
    assert got == expected
    assert len(got) == {"staff": 1, "officer": len(ACTIONS), "anonymous": len(ACTIONS)}[who]
    assert snapshot(db) == before
    with db.begin() as session:
        resident = session.get(Resident, world.resident_tembok)
        assert resident is not None
        assert (resident.opted_out, resident.language) == (False, "id")


def test_the_menu_shows_what_the_role_may_open(app: Flask, world: World) -> None:
    menus = {}
    for who in ("admin", "staff", "officer"):
        page = logged_in(app, who).get("/staff/").text
        nav = re.search(r"<nav[^>]*>(.*?)</nav>", page, re.S)
        assert nav is not None
        menus[who] = re.findall(r">([^<]+)</a>", nav.group(1))
    assert menus == {
        "admin": [
            "Ringkasan",
            "Kunjungan desa",
            "Siaran SMS",
            "Permohonan dokumen",
            "Kunjungan rumah",
            "Kotak keluar",
            "Warga",
            "Pengguna",
            "Log audit",
            "Simulator HP",
        ],
        "staff": [
            "Ringkasan",
            "Kunjungan desa",
            "Siaran SMS",
            "Permohonan dokumen",
            "Kunjungan rumah",
            "Kotak keluar",
            "Warga",
            "Simulator HP",
        ],
        "officer": [
            "Ringkasan",
            "Kunjungan desa",
            "Permohonan dokumen",
            "Kunjungan rumah",
            "Warga",
            "Simulator HP",
        ],
    }


def test_the_interface_language_can_be_switched(app: Flask, world: World) -> None:
    browser = logged_in(app, "staff")
    assert "<h1>Document requests</h1>" in browser.get("/staff/requests?lang=en").text
    assert "<h1>Document requests</h1>" in browser.get("/staff/requests").text  # remembered
    assert "<h1>Permohonan dokumen</h1>" in browser.get("/staff/requests?lang=id").text
    assert "<h1>Permohonan dokumen</h1>" in browser.get("/staff/requests?lang=xx").text


# --- village visits -----------------------------------------------------------------------------


def _visit_fields(
    day: dt.date,
    *,
    published: bool,
    cancelled: bool = False,
    place: str = "Balai Banjar Dinas",
    start: str = "09:00",
) -> dict[str, Any]:
    return {
        "village_code": TEMBOK,
        "date": day.isoformat(),
        "start": start,
        "end": "13:00",
        "place": place,
        "bring": "KK asli",
        "published": published,
        "cancelled": cancelled,
    }


def test_a_visit_is_drafted_previewed_and_published(
    app: Flask, staff: Browser, db: Database
) -> None:
    day = local_today() + dt.timedelta(days=20)
    response = staff.post(
        "/staff/visits/new",
        {
            "village": TEMBOK,
            "date": day.isoformat(),
            "start": "09:00",
            "end": "13:00",
            "place": " Balai Banjar Dinas ",
            "bring": "KK asli",
        },
    )
    with db.begin() as session:
        visit = session.scalars(select(VillageVisit).where(VillageVisit.visit_date == day)).one()
        visit_id = visit.id
        assert (visit.published, visit.cancelled, visit.place) == (
            False,
            False,
            "Balai Banjar Dinas",
        )
        resident_sms = runtime(app).resident_sms
        previews = {
            code: resident_sms.visit_text("sms.visit_published", code, visit)
            for code in ("id", "en")
        }
    page = staff.follow(response, f"/staff/visits/{visit_id}/publish")
    assert flashes(page) == [("ok", "Kunjungan disimpan sebagai draf. Periksa, lalu terbitkan.")]
    assert outbox_rows(db) == []
    assert audit_log(db)[-1] == (
        "staff",
        "visit.add",
        "village_visit",
        str(visit_id),
        None,
        _visit_fields(day, published=False),
    )

    # the preview: who (the two residents not opted out, and a subscriber), what, how much
    before = snapshot(db)
    who = re.search(r'<strong id="recipients">(\d+)</strong>\s*((?:\(\w+: \d+\) )*)', page)
    assert who is not None
    assert who.group(1) == "3"
    assert dict(re.findall(r"\((\w+): (\d+)\)", who.group(2))) == {"id": "2", "en": "1"}
    for code, text in previews.items():
        assert f'<h2>Pratinjau ({code})</h2>\n<p class="sms">{html.escape(text)}</p>' in page
    segments = count_segments(previews["id"]).segments
    assert f"Perkiraan biaya: {3 * segments * 350:,} IDR" in page
    assert staff.get(f"/staff/visits/{visit_id}/publish").status_code == 200
    assert snapshot(db) == before  # looking writes nothing

    response = staff.post(f"/staff/visits/{visit_id}/publish")
    with db.begin() as session:
        broadcast = session.scalars(select(Broadcast).where(Broadcast.visit_id == visit_id)).one()
        assert (
            broadcast.kind,
            broadcast.audience,
            broadcast.recipients,
            broadcast.status,
            broadcast.created_by,
        ) == ("visit_published", f"village:{TEMBOK}", 3, "planned", "staff")
        broadcast_id = broadcast.id
    page = staff.follow(response, f"/staff/broadcasts/{broadcast_id}")
    assert flashes(page) == [("ok", "Kunjungan diterbitkan.")]
    sent = {
        (m.recipient, m.kind, m.status, m.broadcast_id, m.visit_id, m.body) for m in outbox_rows(db)
    }
    assert sent == {
        (GRANNY, "broadcast", "queued", broadcast_id, visit_id, previews["id"]),
        (NEIGHBOUR_EN, "broadcast", "queued", broadcast_id, visit_id, previews["en"]),
        (SUBSCRIBER, "broadcast", "queued", broadcast_id, visit_id, previews["id"]),
    }
    assert audit_log(db)[-1] == (
        "staff",
        "visit.publish",
        "village_visit",
        str(visit_id),
        _visit_fields(day, published=False),
        _visit_fields(day, published=True),
    )

    # publishing twice is refused and writes nothing
    before = snapshot(db)
    page = staff.follow(staff.post(f"/staff/visits/{visit_id}/publish"), "/staff/visits")
    assert flashes(page) == [("error", f"visit {visit_id} is already published")]
    assert snapshot(db) == before


def test_editing_and_cancelling_a_published_visit(
    staff: Browser, db: Database, world: World
) -> None:
    day = local_today() + dt.timedelta(days=20)
    staff.post(
        "/staff/visits/new",
        {
            "village": TEMBOK,
            "date": day.isoformat(),
            "start": "09:00",
            "end": "13:00",
            "place": "Balai Banjar Dinas",
            "bring": "KK asli",
        },
    )
    with db.begin() as session:
        visit_id = session.scalars(
            select(VillageVisit.id).where(VillageVisit.visit_date == day)
        ).one()
    staff.post(f"/staff/visits/{visit_id}/publish")
    with db.begin() as session:  # the grandmother's message went out already
        session.execute(
            update(OutboxMessage).where(OutboxMessage.recipient == GRANNY).values(status="sent")
        )

    form = staff.get(f"/staff/visits/{visit_id}/edit").text
    assert 'name="place" required maxlength="120" value="Balai Banjar Dinas"' in form
    response = staff.post(
        f"/staff/visits/{visit_id}/edit",
        {
            "date": day.isoformat(),
            "start": "10:00",
            "end": "13:00",
            "place": "Pura Desa",
            "bring": "KK asli",
        },
    )
    page = staff.follow(response, "/staff/visits")
    assert flashes(page) == [
        ("ok", "Kunjungan diubah; 1 warga yang sudah tahu mendapat perubahannya.")
    ]
    assert audit_log(db)[-1] == (
        "staff",
        "visit.edit",
        "village_visit",
        str(visit_id),
        _visit_fields(day, published=True),
        _visit_fields(day, published=True, place="Pura Desa", start="10:00"),
    )
    by_recipient = {
        (m.recipient, m.status) for m in outbox_rows(db, OutboxMessage.visit_id == visit_id)
    }
    assert by_recipient == {
        (GRANNY, "sent"),
        (GRANNY, "queued"),  # the change, to her
        (NEIGHBOUR_EN, "cancelled"),
        (NEIGHBOUR_EN, "queued"),
        (SUBSCRIBER, "cancelled"),
        (SUBSCRIBER, "queued"),
    }

    # a bad edit is shown again with its error and changes nothing
    before = snapshot(db)
    response = staff.post(
        f"/staff/visits/{visit_id}/edit",
        {"date": day.isoformat(), "start": "14:00", "end": "13:00", "place": "Pura Desa"},
    )
    assert response.status_code == 200
    assert flashes(response.get_data(as_text=True)) == [
        ("error", "the end time is not after the start time")
    ]
    assert snapshot(db) == before
    with db.begin() as session:
        visit = session.get(VillageVisit, visit_id)
        assert visit is not None and f"{visit.start_time:%H:%M}" == "10:00"

    page = staff.follow(staff.post(f"/staff/visits/{visit_id}/cancel"), "/staff/visits")
    assert flashes(page) == [("ok", "Kunjungan dibatalkan; 1 warga diberi tahu.")]
    assert audit_log(db)[-1][:4] == ("staff", "visit.cancel", "village_visit", str(visit_id))
    assert audit_log(db)[-1][5]["cancelled"] is True
    # what was still queued is cancelled; the one who was told hears of the cancellation
    assert sorted(
        (m.recipient, m.status, m.dedupe_key.split(":")[3])
        for m in outbox_rows(db, OutboxMessage.visit_id == visit_id)
    ) == [
        (GRANNY, "cancelled", "changed"),
        (GRANNY, "queued", "cancelled"),
        (GRANNY, "sent", "published"),
        (NEIGHBOUR_EN, "cancelled", "published"),
        (NEIGHBOUR_EN, "cancelled", "published"),
        (SUBSCRIBER, "cancelled", "published"),
        (SUBSCRIBER, "cancelled", "published"),
    ]
    page = staff.follow(staff.post(f"/staff/visits/{visit_id}/cancel"), "/staff/visits")
    assert flashes(page) == [("error", f"visit {visit_id} is already cancelled")]


def errors_of(
    browser: Browser,
    path: str,
    base: dict[str, Any],
    cases: list[tuple[dict[str, Any], str]],
    *,
    status: int = 200,
    then: str | None = None,
) -> dict[str, list[tuple[str, str]]]:
    """Post ``base`` changed by each case; the flashes each one gets, by its error."""
    got = {}
    for change, error in cases:
        response = browser.post(path, {**base, **change})
        assert response.status_code == status, change
        page = (
            browser.follow(response, then) if then is not None else response.get_data(as_text=True)
        )
        got[error] = flashes(page)
    return got


def test_a_bad_new_visit_is_shown_again(staff: Browser, db: Database) -> None:
    before = snapshot(db)
    cases = [
        ({"date": "2001-01-01"}, "2001-01-01 is in the past"),
        ({"date": "besok"}, "Bukan tanggal: besok"),
        ({"start": "9 pagi"}, "Bukan jam: 9 pagi"),
        ({"end": "08:00"}, "end time 08:00 is not after start time 09:00"),
        ({"place": "  "}, "the place is empty"),
        ({"village": "Atlantis"}, "no village with code or name 'Atlantis'"),
    ]
    got = errors_of(
        staff,
        "/staff/visits/new",
        {
            "village": TEMBOK,
            "date": f"{local_today() + dt.timedelta(days=3)}",
            "start": "09:00",
            "end": "13:00",
            "place": "Balai",
        },
        cases,
    )
    assert got == {error: [("error", error)] for _, error in cases}
    assert snapshot(db) == before


# --- broadcasts ---------------------------------------------------------------------------------


def test_the_broadcast_preview_counts_and_writes_nothing(staff: Browser, db: Database) -> None:
    before = snapshot(db)
    response = staff.post(
        "/staff/broadcasts/new",
        {
            "audience": "village",
            "village": TEMBOK,
            "text": "Kantor tutup besok.",
            "when": "now",
            "step": "preview",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert (
        f'village:{TEMBOK} — <strong id="recipients">2</strong> penerima;\n'
        "     GSM-7, 1 segmen;\n     perkiraan biaya 700 IDR"
    ) in page
    assert 'name="step" value="send"' in page
    assert "Teks yang sama dikirim ke semua" in page
    # an English version for the one who chose English, costed with its own length
    english = "The office is closed tomorrow. " * 6  # 186 characters: 2 segments
    page = staff.post(
        "/staff/broadcasts/new",
        {
            "audience": "village",
            "village": TEMBOK,
            "text": "Kantor tutup besok.",
            "text_en": english,
            "step": "preview",
        },
    ).get_data(as_text=True)
    assert "<h2>Pratinjau (en) — 1 penerima</h2>" in page
    assert f'<p class="sms">{english.strip()}</p>\n  <p class="muted">GSM-7, 2 segmen</p>' in page
    assert (
        f'village:{TEMBOK} — <strong id="recipients">2</strong> penerima;\n'
        "     GSM-7, 1 segmen;\n     perkiraan biaya 1,050 IDR"
    ) in page
    assert "Teks yang sama dikirim ke semua" not in page
    # a long text in UCS-2: the 2 applicants whose request is ready, 3 segments each
    text = "Dokumen siap ✅ " + "x" * 120
    page = staff.post(
        "/staff/broadcasts/new",
        {"audience": "status", "request_status": "ready", "text": text, "step": "preview"},
    ).get_data(as_text=True)
    assert (
        'status:ready — <strong id="recipients">2</strong> penerima;\n'
        "     UCS-2, 3 segmen;\n     perkiraan biaya 2,100 IDR"
    ) in page
    assert "Huruf ini membuatnya UCS-2 (70 per segmen): ✅</p>" in page
    page = staff.post(
        "/staff/broadcasts/new",
        {
            "audience": "district",
            "district": "51.08.05",
            "text": "Halo Sukasada",
            "step": "preview",
        },
    ).get_data(as_text=True)
    assert 'district:51.08.05 — <strong id="recipients">1</strong> penerima' in page
    page = staff.post(
        "/staff/broadcasts/new", {"audience": "all", "text": "Halo semua", "step": "preview"}
    ).get_data(as_text=True)
    assert 'all — <strong id="recipients">3</strong> penerima' in page
    assert snapshot(db) == before


def test_broadcast_errors_write_nothing(staff: Browser, db: Database) -> None:
    before = snapshot(db)
    cases = [
        ({"text": "  "}, "Tulis pesannya."),
        ({"audience": "status", "request_status": "lost"}, "Pilih status permohonan."),
        ({"audience": "mars"}, "Pilih penerimanya."),
        ({"village": "Atlantis"}, "no village with code or name 'Atlantis'"),
        ({"when": "later", "send_at": "besok pagi"}, "Bukan tanggal dan jam: besok pagi"),
        ({"when": "later", "send_at": ""}, "Pilih tanggal dan jam."),
    ]
    for step in ("preview", "send"):
        got = errors_of(
            staff,
            "/staff/broadcasts/new",
            {"audience": "village", "village": TEMBOK, "text": "Halo", "step": step},
            cases,
        )
        assert got == {error: [("error", error)] for _, error in cases}, step
    assert snapshot(db) == before


def test_send_a_broadcast_follow_its_progress_and_cancel_it(staff: Browser, db: Database) -> None:
    response = staff.post(
        "/staff/broadcasts/new",
        {
            "audience": "village",
            "village": TEMBOK,
            "text": "Kantor tutup besok.",
            "text_en": " The office is closed tomorrow. ",
            "when": "now",
            "step": "send",
        },
    )
    with db.begin() as session:
        broadcast = session.scalars(
            select(Broadcast).where(
                Broadcast.kind == "custom", Broadcast.body.is_not(None), Broadcast.audience != "all"
            )
        ).one()
        assert (
            broadcast.audience,
            broadcast.body,
            broadcast.recipients,
            broadcast.status,
            broadcast.created_by,
        ) == (f"village:{TEMBOK}", "Kantor tutup besok.", 2, "planned", "staff")
        bid, send_at = broadcast.id, broadcast.send_at
    page = staff.follow(response, f"/staff/broadcasts/{bid}")
    assert flashes(page) == [("ok", "Siaran masuk antrean.")]
    assert '<p id="percent" aria-live="polite">0%</p>' in page
    assert '<td data-status="queued">2</td>' in page
    assert "Batalkan yang belum terkirim" in page
    rows = outbox_rows(db, OutboxMessage.broadcast_id == bid)
    assert sorted((m.recipient, m.kind, m.body, m.status) for m in rows) == [
        (GRANNY, "broadcast", "Kantor tutup besok.", "queued"),
        (NEIGHBOUR_EN, "broadcast", "The office is closed tomorrow.", "queued"),
    ]
    assert audit_log(db)[-1] == (
        "staff",
        "broadcast.send",
        "broadcast",
        str(bid),
        None,
        {
            "audience": f"village:{TEMBOK}",
            "text": "Kantor tutup besok.",
            "translations": {"en": "The office is closed tomorrow."},
            "recipients": 2,
            "send_at": str(as_utc(send_at)),
        },
    )

    progress = staff.get(f"/staff/broadcasts/{bid}/progress.json")
    assert progress.get_json() == {
        "id": bid,
        "status": "planned",
        "total": 2,
        "counts": {"queued": 2},
        "percent": 0,
        "done": False,
    }
    with db.begin() as session:
        outbox.mark_sent(session, rows[0].id, "ATXid_1", utcnow())
    assert staff.get(f"/staff/broadcasts/{bid}/progress.json").get_json() == {
        "id": bid,
        "status": "planned",
        "total": 2,
        "counts": {"queued": 1, "sent": 1},
        "percent": 50,
        "done": False,
    }

    page = staff.follow(staff.post(f"/staff/broadcasts/{bid}/cancel"), f"/staff/broadcasts/{bid}")
    assert flashes(page) == [("ok", "1 pesan yang belum terkirim dibatalkan.")]
    assert "Batalkan yang belum terkirim" not in page
    assert staff.get(f"/staff/broadcasts/{bid}/progress.json").get_json() == {
        "id": bid,
        "status": "cancelled",
        "total": 2,
        "counts": {"cancelled": 1, "sent": 1},
        "percent": 100,
        "done": True,
    }
    assert audit_log(db)[-1] == (
        "staff",
        "broadcast.cancel",
        "broadcast",
        str(bid),
        {"status": "planned"},
        {"status": "cancelled", "messages_cancelled": 1},
    )
    assert staff.get("/staff/broadcasts/999999").status_code == 404
    assert staff.get("/staff/broadcasts/999999/progress.json").status_code == 404
    page = staff.follow(staff.post("/staff/broadcasts/999999/cancel"), "/staff/broadcasts")
    assert flashes(page) == [("error", "no broadcast with id 999999")]


def test_a_broadcast_sent_later(staff: Browser, db: Database) -> None:
    later = local_today() + dt.timedelta(days=2)
    response = staff.post(
        "/staff/broadcasts/new",
        {
            "audience": "village",
            "village": TEMBOK,
            "text": "Besok lusa ada rapat.",
            "when": "later",
            "send_at": f"{later}T10:30",
            "step": "send",
        },
    )
    assert response.status_code == 302
    expected = dt.datetime.combine(later, dt.time(10, 30), LOCAL_TZ).astimezone(dt.UTC)
    with db.begin() as session:
        broadcast = session.scalars(
            select(Broadcast).where(Broadcast.body == "Besok lusa ada rapat.")
        ).one()
        assert as_utc(broadcast.send_at) == expected
    assert {as_utc(m.due_at) for m in outbox_rows(db)} == {expected}


def test_the_console_leaves_the_sweep_to_the_workers(
    app: Flask, staff: Browser, db: Database, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change that wrote SMS asks for a sweep (a queued job, or the sender thread woken);
    it never sweeps inside the request, which ``inline=True`` is for (CLI commands that exit
    right after)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(runtime(app), "dispatch", lambda **kwargs: calls.append(kwargs))
    day = local_today() + dt.timedelta(days=20)
    staff.post(
        "/staff/visits/new",
        {"village": TEMBOK, "date": f"{day}", "start": "09:00", "end": "13:00", "place": "Balai"},
    )
    with db.begin() as session:
        visit_id = session.scalars(
            select(VillageVisit.id).where(VillageVisit.visit_date == day)
        ).one()
    changes = [
        (f"/staff/visits/{visit_id}/publish", {}),
        (f"/staff/visits/{visit_id}/edit", {"date": f"{day}", "start": "10:00", "end": "13:00"}),
        (f"/staff/visits/{visit_id}/cancel", {}),
        ("/staff/broadcasts/new", {"audience": "all", "text": "Halo", "step": "send"}),
        ("/staff/requests/status", {"numbers": [R2], "status": "ready"}),
        (f"/staff/bookings/{world.booking_tembok}/done", {}),
        ("/staff/outbox/retry", {}),
    ]
    for path, form in changes:
        assert staff.post(path, {"place": "Pura", **form}).status_code == 302, path
    assert calls == [{}] * len(changes)


# --- dashboard ----------------------------------------------------------------------------------

LEGEND = re.compile(
    r'<rect x="\d+" y="\d+" width="10" height="10" fill="(#\w+)"/><text [^>]*>([^<]+)<'
)


def test_journeys_are_the_main_menus_in_its_order(tmp_path: Path) -> None:
    screens = tmp_path / "screens.toml"
    screens.write_text(
        'start = "main"\nresume = "main"\n[screens.main]\ntype = "menu"\ntext = "t"\n'
        'options = [{ label = "a", goto = "main", journey = "zakat" },'
        ' { label = "b", goto = "main" }, { label = "c", goto = "main", journey = "ktp" }]\n'
    )
    assert journeys(load_flow(screens)) == ["zakat", "ktp"]
    assert journeys() == journeys(load_flow())  # the product's own menu by default


def test_the_journeys_chart_follows_the_menu(
    app: Flask, staff: Browser, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Colours by position in the main menu, "None" (left at the menu) last in grey; a journey
    the menu no longer offers but the log still holds comes after the menu's."""
    with db.begin() as session:
        for i, journey in enumerate(["language", "status", None, "old_journey", "status"]):
            session.add(
                UssdSessionLog(
                    session_id=f"s{i}", phone=GRANNY, journey=journey, outcome="completed"
                )
            )

    def legend() -> list[tuple[str, str]]:
        page = staff.get("/staff/?lang=en").text
        chart = page.split("USSD sessions per day, by journey")[1].split("</svg>")[0]
        return [(name, colour) for colour, name in LEGEND.findall(chart)]

    assert legend() == [
        ("status", "#1f5f99"),
        ("language", "#6b7280"),
        ("old_journey", "#0e7c86"),
        ("None", "#c9d1d9"),
    ]
    # a new menu: a new journey is charted, and the colours follow the menu's order
    menu = runtime(app).ussd_engine.flow.screens["main"]
    new_menu = dataclasses.replace(
        menu, options=(dataclasses.replace(menu.options[0], journey="old_journey"), *menu.options)
    )
    flow = dataclasses.replace(
        runtime(app).ussd_engine.flow,
        screens={**runtime(app).ussd_engine.flow.screens, "main": new_menu},
    )
    monkeypatch.setattr(runtime(app).ussd_engine, "flow", flow)
    assert legend() == [
        ("old_journey", "#1f5f99"),
        ("status", "#b35c00"),
        ("language", "#0e7c86"),
        ("None", "#c9d1d9"),
    ]


# --- document requests --------------------------------------------------------------------------


def test_change_one_request_status(staff: Browser, db: Database) -> None:
    response = staff.post(
        "/staff/requests/status",
        {"numbers": [R2], "status": "ready", "pickup": "Kantor Desa Tembok"},
    )
    page = staff.follow(response, "/staff/requests")
    assert flashes(page) == [("ok", "1 permohonan diubah; warga diberi tahu lewat SMS.")]
    assert request_state(db, R2) == ("ready", "Kantor Desa Tembok", 2)
    with db.begin() as session:
        request = queries.find_request(session, R2)
        assert request is not None
        key = f"request:{request.id}:change:{queries.last_status_change_id(session, request)}"
    [message] = outbox_rows(db)
    assert (message.recipient, message.kind, message.status, message.dedupe_key) == (
        GRANNY,
        "notification",
        "queued",
        key,
    )
    assert R2 in message.body and "Kantor Desa Tembok" in message.body
    assert audit_log(db)[-1] == (
        "staff",
        "request.status",
        "document_request",
        R2,
        {"status": "processing", "pickup": None},
        {"status": "ready", "pickup": "Kantor Desa Tembok"},
    )


def test_change_a_selection_of_requests(staff: Browser, db: Database) -> None:
    page = staff.get("/staff/requests?status=ready").text
    assert set(re.findall(r'name="numbers" value="(\d+)"', page)) == {R1, R6}
    response = staff.post(
        "/staff/requests/status", {"numbers": [R1, R6, ""], "status": "collected", "pickup": ""}
    )
    page = staff.follow(response, "/staff/requests")
    assert flashes(page) == [("ok", "2 permohonan diubah; warga diberi tahu lewat SMS.")]
    assert request_state(db, R1) == ("collected", "Kantor Desa Tembok", 2)
    assert request_state(db, R6) == ("collected", "Balai Desa Tembok", 2)
    assert sorted((m.recipient, m.kind) for m in outbox_rows(db)) == [
        (GRANNY, "notification"),
        ("+6281200000009", "notification"),
    ]
    assert [a[:4] for a in audit_log(db)] == [
        ("staff", "request.status", "document_request", R1),
        ("staff", "request.status", "document_request", R6),
    ]
    assert [(a[4], a[5]) for a in audit_log(db)] == [
        (
            {"status": "ready", "pickup": "Kantor Desa Tembok"},
            {"status": "collected", "pickup": "Kantor Desa Tembok"},
        ),
        (
            {"status": "ready", "pickup": "Balai Desa Tembok"},
            {"status": "collected", "pickup": "Balai Desa Tembok"},
        ),
    ]


def test_a_refused_status_change_changes_nothing(staff: Browser, db: Database) -> None:
    before = snapshot(db)
    cases = [
        ({"numbers": [], "status": "ready"}, "Pilih setidaknya satu permohonan."),
        (
            {"numbers": [R1], "status": "lost"},
            "unknown status 'lost' (one of: submitted, processing, ready, collected, rejected)",
        ),
        (
            {"numbers": [R1], "status": "ready", "pickup": "x" * 121},
            "the pickup place is longer than 120 characters",
        ),
    ]
    got = errors_of(staff, "/staff/requests/status", {}, cases, status=302, then="/staff/requests")
    assert got == {error: [("error", error)] for _, error in cases}
    # a number that does not exist, even after a good one: nothing is changed
    unknown = numbers.with_check_digit("9999999")
    response = staff.post(
        "/staff/requests/status", {"numbers": [R1, unknown], "status": "rejected"}
    )
    assert response.status_code == 404
    assert snapshot(db) == before
    assert request_state(db, R1) == ("ready", "Kantor Desa Tembok", 1)


def test_find_requests_by_number_or_phone(staff: Browser) -> None:
    def listed(query: str) -> set[str]:
        page = staff.get(f"/staff/requests?{query}").text
        return set(re.findall(r'name="numbers" value="(\d+)"', page))

    assert listed("") == TEMBOK_REQUESTS | KAYUPUTIH_REQUESTS
    assert listed(f"q={R3}") == {R3}
    assert listed(f"q=%2B{R3}") == set()
    assert listed("q=0812-0000-0001") == {R1, R2}
    assert listed("q=%2B62+812+0000+0002") == KAYUPUTIH_REQUESTS
    assert listed("q=0812-0000-0002&status=collected") == {R4}
    assert "Tidak ditemukan." in staff.get("/staff/requests?q=12345").text


def test_register_a_request_at_the_office(staff: Browser, db: Database) -> None:
    response = staff.post(
        "/staff/requests/new",
        {"doc_type": "kia", "phone": "0812 3456 7890", "birth_year": "2015", "village": KAYUPUTIH},
    )
    with db.begin() as session:
        created = session.scalars(
            select(DocumentRequest).where(DocumentRequest.applicant_phone == "+6281234567890")
        ).one()
        assert (
            created.doc_type,
            created.applicant_birth_year,
            created.village_code,
            created.status,
        ) == ("kia", 2015, KAYUPUTIH, "submitted")
        number = created.number
    page = staff.follow(response, f"/staff/requests?q={number}")
    assert flashes(page) == [("ok", f"Permohonan terdaftar. Nomornya: {number}")]
    assert audit_log(db)[-1] == (
        "staff",
        "request.add",
        "document_request",
        number,
        None,
        {"type": "kia", "status": "submitted", "village_code": KAYUPUTIH},
    )
    assert outbox_rows(db) == []


def test_a_bad_request_registration_is_shown_again(staff: Browser, db: Database) -> None:
    before = snapshot(db)
    cases = [
        ({"phone": "12"}, "Bukan nomor HP: 12"),
        ({"birth_year": "19x0"}, "Tahun lahir 4 angka."),
        ({"birth_year": "1800"}, f"birth year 1800 is not between 1900 and {dt.date.today().year}"),
        (
            {"doc_type": "passport"},
            "unknown document type 'passport' (one of: ktp, kk, birth_cert, death_cert, kia, move)",
        ),
        ({"village": "Atlantis"}, "no village with code or name 'Atlantis'"),
    ]
    got = errors_of(
        staff,
        "/staff/requests/new",
        {"doc_type": "ktp", "phone": "081234567890", "birth_year": "1980", "village": TEMBOK},
        cases,
    )
    assert got == {error: [("error", error)] for _, error in cases}
    assert snapshot(db) == before


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def test_csv_import_reports_rejected_rows(staff: Browser, db: Database) -> None:
    given = numbers.with_check_digit("3000001")
    body = _csv(
        [
            ["Type", "Phone", "Birth_Year", "Village", "Status", "Number", "Pickup"],
            ["ktp", "0812-5555-0001", "1980", "Tembok", "", "", ""],  # 2: good
            [
                "kk",
                "+62 812 5555 0002",
                "1975",
                KAYUPUTIH,
                "ready",
                given,
                "Kantor Camat Sukasada",
            ],  # 3: good
            ["ktp", "12345", "1980", "Tembok", "", "", ""],  # 4: phone
            ["ktp", "081255550003", "tua", "Tembok", "", "", ""],  # 5: birth year
            ["ktp", "081255550004", "1980", "Atlantis", "", "", ""],  # 6: village
            ["paspor", "081255550005", "1980", "Tembok", "", "", ""],  # 7: type
            ["ktp", "081255550006", "1980", "Tembok", "", R1, ""],  # 8: number in use
            ["ktp", "081255550007", "1980", "Tembok", "lost", "", ""],  # 9: status
        ]
    )
    response = staff.post(
        "/staff/requests/import",
        {"file": (io.BytesIO(body), "requests.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert "<p>2 diimpor, 6 ditolak</p>" in page
    assert re.findall(r"<tr><td>(\d+)</td><td>(.*?)</td></tr>", page) == [
        ("4", "'12345' is not a phone number"),
        ("5", "birth_year is not a year"),
        ("6", "no village with code or name 'Atlantis'"),
        (
            "7",
            "unknown document type 'paspor' (one of: ktp, kk, birth_cert, death_cert, kia, move)",
        ),
        ("8", f"request number {R1} already exists"),
        ("9", "unknown status 'lost' (one of: submitted, processing, ready, collected, rejected)"),
    ]
    with db.begin() as session:
        imported = {
            (
                r.applicant_phone,
                r.doc_type,
                r.applicant_birth_year,
                r.village_code,
                r.status,
                r.pickup_place,
            )
            for r in session.scalars(
                select(DocumentRequest).where(DocumentRequest.applicant_phone.like("+62812555%"))
            )
        }
        assert queries.find_request(session, given) is not None
    assert imported == {
        ("+6281255550001", "ktp", 1980, TEMBOK, "submitted", None),
        ("+6281255550002", "kk", 1975, KAYUPUTIH, "ready", "Kantor Camat Sukasada"),
    }
    assert [(a[0], a[1]) for a in audit_log(db)] == [("staff", "request.add")] * 2
    assert outbox_rows(db) == []  # an import tells nobody


def test_csv_import_of_a_file_that_is_not_utf8(staff: Browser, db: Database) -> None:
    before = snapshot(db)
    response = staff.post(
        "/staff/requests/import",
        {"file": (io.BytesIO(b"type,phone\nktp,\xff\xfe\n"), "x.csv")},
        content_type="multipart/form-data",
    )
    page = html.unescape(response.get_data(as_text=True))
    assert flashes(page) == [("error", "Berkas bukan teks UTF-8.")]
    assert "<p>0 diimpor, 0 ditolak</p>" in page
    assert snapshot(db) == before


# --- home-visit bookings ------------------------------------------------------------------------


def test_schedule_and_close_bookings(staff: Browser, db: Database, world: World) -> None:
    number = world.booking_kayuputih
    day = local_today() + dt.timedelta(days=3)
    response = staff.post(
        f"/staff/bookings/{number}/schedule",
        {"date": day.isoformat(), "time": "10:00", "team": " Tim A "},
    )
    page = staff.follow(response, "/staff/bookings")
    assert flashes(page) == [
        ("ok", f"Permintaan {number} diperbarui; warga diberi tahu lewat SMS.")
    ]
    when = dt.datetime.combine(day, dt.time(10), LOCAL_TZ).astimezone(dt.UTC)
    stamp = int(when.timestamp())
    assert [(m.recipient, m.kind, m.status, m.dedupe_key) for m in outbox_rows(db)] == [
        (ENGLISH, "notification", "queued", f"booking:{number}:scheduled:{stamp}:0"),
        (ENGLISH, "reminder", "queued", f"booking:{number}:reminder:{stamp}:0"),
    ]
    assert audit_log(db)[-1] == (
        "staff",
        "booking.schedule",
        "home_visit_booking",
        number,
        {"status": "requested", "scheduled_for": None, "team": None},
        {"status": "scheduled", "scheduled_for": str(when), "team": "Tim A"},
    )

    staff.follow(staff.post(f"/staff/bookings/{number}/done"), "/staff/bookings")
    assert [(m.kind, m.status, m.dedupe_key) for m in outbox_rows(db)][1:] == [
        ("reminder", "cancelled", f"booking:{number}:reminder:{stamp}:0"),
        ("notification", "queued", f"booking:{number}:done"),
    ]
    assert audit_log(db)[-1] == (
        "staff",
        "booking.done",
        "home_visit_booking",
        number,
        {"status": "scheduled"},
        {"status": "done"},
    )

    other = world.booking_tembok
    staff.follow(staff.post(f"/staff/bookings/{other}/cancelled"), "/staff/bookings")
    [told] = outbox_rows(db, OutboxMessage.recipient == GRANNY)
    assert (told.kind, told.dedupe_key) == ("notification", f"booking:{other}:cancelled")
    assert audit_log(db)[-1] == (
        "staff",
        "booking.cancelled",
        "home_visit_booking",
        other,
        {"status": "requested"},
        {"status": "cancelled"},
    )
    with db.begin() as session:
        assert {b.number: b.status for b in session.scalars(select(HomeVisitBooking))} == {
            number: "done",
            other: "cancelled",
        }

    # closed bookings cannot move again; unknown steps and bookings are refused
    before = snapshot(db)
    page = staff.follow(staff.post(f"/staff/bookings/{number}/cancelled"), "/staff/bookings")
    assert flashes(page) == [("error", f"booking {number} is already done")]
    page = staff.follow(staff.post("/staff/bookings/123/done"), "/staff/bookings")
    assert flashes(page) == [("error", "no booking with number 123")]
    assert staff.post(f"/staff/bookings/{number}/reopen").status_code == 404
    assert snapshot(db) == before


def test_a_bad_schedule_changes_nothing(staff: Browser, db: Database, world: World) -> None:
    before = snapshot(db)
    cases = [
        ({"date": "2001-01-01"}, "2001-01-01 10:00 is in the past"),
        ({"date": "besok"}, "Bukan tanggal dan jam: besok 10:00"),
    ]
    got = errors_of(
        staff,
        f"/staff/bookings/{world.booking_kayuputih}/schedule",
        {"time": "10:00"},
        cases,
        status=302,
        then="/staff/bookings",
    )
    assert got == {error: [("error", error)] for _, error in cases}
    assert snapshot(db) == before


def test_bookings_by_district_and_status(staff: Browser, world: World, db: Database) -> None:
    def listed(query: str) -> list[str]:
        page = staff.get(f"/staff/bookings?{query}").text
        return re.findall(r"<tr><td>(\d+)</td>", page)

    assert sorted(listed("")) == sorted([world.booking_tembok, world.booking_kayuputih])
    assert listed("district=51.08.05") == [world.booking_kayuputih]
    assert listed("district=51.08.09&status=requested") == [world.booking_tembok]
    assert listed("status=done") == []
    with db.begin() as session:
        session.scalars(
            select(HomeVisitBooking).where(HomeVisitBooking.number == world.booking_tembok)
        ).one().status = "done"
    assert listed("status=done") == [world.booking_tembok]
    assert listed("") == [world.booking_kayuputih]  # open ones by default
    assert sorted(listed("status=")) == sorted([world.booking_tembok, world.booking_kayuputih])


# --- outbox -------------------------------------------------------------------------------------


def test_the_outbox_shows_failures_and_retries_them(staff: Browser, db: Database) -> None:
    with db.begin() as session:
        for i in range(3):
            outbox.add(
                session,
                recipient=GRANNY,
                kind="notification",
                body=f"Pesan {i}",
                dedupe_key=f"test:{i}",
            )
        session.flush()
        ids = list(session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))
        for i in ids[:2]:
            outbox.mark_failed(session, i, "InsufficientCredit", utcnow())
    page = staff.get("/staff/outbox?status=failed").text
    assert re.findall(r'name="ids" value="(\d+)"', page) == [str(i) for i in reversed(ids[:2])]
    assert page.count("<td>gagal</td><td>0</td><td>InsufficientCredit</td>") == 2
    assert "gagal: 2</a>" in page and "antre: 1</a>" in page

    page = staff.follow(staff.post("/staff/outbox/retry", {"ids": [str(ids[0])]}), "/staff/outbox")
    assert flashes(page) == [("ok", "1 pesan masuk antrean lagi.")]
    assert [(m.status, m.attempts) for m in outbox_rows(db)] == [
        ("queued", 0),
        ("failed", 0),
        ("queued", 0),
    ]
    assert audit_log(db) == [
        ("staff", "outbox.retry", "outbox", str(ids[0]), None, {"requeued": 1})
    ]
    page = staff.follow(staff.post("/staff/outbox/retry"), "/staff/outbox")
    assert flashes(page) == [("ok", "1 pesan masuk antrean lagi.")]
    assert [m.status for m in outbox_rows(db)] == ["queued"] * 3
    assert audit_log(db)[-1] == (
        "staff",
        "outbox.retry",
        "outbox",
        "all-failed",
        None,
        {"requeued": 1},
    )


# --- residents ----------------------------------------------------------------------------------


def test_opt_a_resident_out_and_back_in(
    app: Flask, staff: Browser, db: Database, world: World
) -> None:
    path = f"/staff/residents/{world.resident_tembok}"
    runtime(app).store.save_profile(GRANNY, {"lang": "id", "village": TEMBOK})
    response = staff.post(path, {"opted_out": "1", "language": "en"})
    page = staff.follow(response, f"/staff/residents?q=%2B{GRANNY[1:]}")
    assert flashes(page) == [("ok", "Data warga diperbarui.")]
    assert runtime(app).store.load(GRANNY)[1] is None  # USSD reads the change next call
    staff.post(path, {"language": "xx"})  # unchecked box: back in; unknown language: kept
    with db.begin() as session:
        resident = session.get(Resident, world.resident_tembok)
        assert resident is not None and (resident.opted_out, resident.language) == (False, "en")
    assert audit_log(db) == [
        (
            "staff",
            "resident.update",
            "resident",
            GRANNY,
            {"opted_out": False, "language": "id"},
            {"opted_out": True, "language": "en"},
        ),
        (
            "staff",
            "resident.update",
            "resident",
            GRANNY,
            {"opted_out": True, "language": "en"},
            {"opted_out": False, "language": "en"},
        ),
    ]
    assert staff.post("/staff/residents/999999", {"opted_out": "1"}).status_code == 404


def test_find_residents_by_phone_or_village(staff: Browser) -> None:
    def listed(query: str) -> set[str]:
        return set(re.findall(r"<tr><td>(\+\d+)</td>", staff.get(f"/staff/residents?{query}").text))

    assert listed("") == {GRANNY, ENGLISH, NEIGHBOUR_EN, NEIGHBOUR_STOP}
    assert listed("q=0812-0000-0002") == {ENGLISH}
    assert listed("q=tembok") == {GRANNY, NEIGHBOUR_EN, NEIGHBOUR_STOP}
    assert listed("q=atlantis") == set()


# --- users and audit (admin) --------------------------------------------------------------------


def test_an_admin_creates_users_in_the_console(app: Flask, admin: Browser, db: Database) -> None:
    page = admin.follow(
        admin.post(
            "/staff/users",
            {
                "username": "kelian",
                "password": "sepuluh-huruf",
                "role": "village_officer",
                "village": "Tembok",
            },
        ),
        "/staff/users",
    )
    assert flashes(page) == [("ok", "Pengguna dibuat.")]
    assert "<tr><td>kelian</td><td>perangkat desa</td><td>Tembok</td><td>ya</td>\n" in page
    assert audit_log(db)[-1] == (
        "admin",
        "user.create",
        "user",
        "kelian",
        None,
        {"role": "village_officer", "village_code": TEMBOK},
    )
    with db.begin() as session:
        assert (
            session.scalars(select(User.password_hash).where(User.username == "kelian"))
            .one()
            .startswith("$argon2id$")
        )
    assert Browser(app).login("kelian", "sepuluh-huruf").status_code == 302

    before = snapshot(db)
    for form, error in [
        (
            {"username": "kelian", "password": "sepuluh-huruf", "role": "staff"},
            "Nama pengguna itu sudah dipakai.",
        ),
        (
            {"username": "baru", "password": "pendek", "role": "staff"},
            "Nama pengguna, dan kata sandi 10 karakter atau lebih.",
        ),
        (
            {"username": " ", "password": "sepuluh-huruf", "role": "staff"},
            "Nama pengguna, dan kata sandi 10 karakter atau lebih.",
        ),
        ({"username": "baru", "password": "sepuluh-huruf", "role": "root"}, "Pilih peran."),
        (
            {
                "username": "baru",
                "password": "sepuluh-huruf",
                "role": "village_officer",
                "village": "",
            },
            "no village with code or name ''",
        ),
    ]:
        page = admin.follow(admin.post("/staff/users", form), "/staff/users")
        assert flashes(page) == [("error", error)], form
    assert snapshot(db) == before


def test_an_admin_switches_log_ins_off_and_on_and_sets_passwords(
    app: Flask, admin: Browser, db: Database
) -> None:
    staff = logged_in(app, "staff")
    page = admin.follow(admin.post("/staff/users/staff/active", {"active": "0"}), "/staff/users")
    assert flashes(page) == [("ok", "Pengguna staff diperbarui.")]
    assert staff.get("/staff/").status_code == 302  # logged out at the next page
    assert Browser(app).login("staff").status_code == 401
    admin.follow(admin.post("/staff/users/staff/active", {"active": "1"}), "/staff/users")
    assert Browser(app).login("staff").status_code == 302

    page = admin.follow(
        admin.post("/staff/users/staff/password", {"password": "yang-baru-sekali"}), "/staff/users"
    )
    assert flashes(page) == [("ok", "Pengguna staff diperbarui.")]
    assert Browser(app).login("staff").status_code == 401  # the old password
    assert Browser(app).login("staff", "yang-baru-sekali").status_code == 302
    assert [entry[:4] for entry in audit_log(db)[-3:]] == [
        ("admin", "user.active", "user", "staff"),
        ("admin", "user.active", "user", "staff"),
        ("admin", "user.password", "user", "staff"),
    ]
    assert "yang-baru" not in json.dumps(audit_log(db))  # no password, no hash

    before = snapshot(db)
    for path, form, error in [
        (
            "/staff/users/staff/password",
            {"password": "pendek"},
            "Kata sandi 10 karakter atau lebih.",
        ),
        (
            "/staff/users/admin/active",
            {"active": "0"},
            "Anda tidak bisa mematikan log-in Anda sendiri.",
        ),
    ]:
        page = admin.follow(admin.post(path, form), "/staff/users")
        assert flashes(page) == [("error", error)], path
    assert admin.post("/staff/users/nobody/active", {"active": "0"}).status_code == 404
    other = logged_in(app, "officer")
    assert other.post("/staff/users/staff/active", {"active": "0"}).status_code == 403
    assert snapshot(db) == before


def test_everyone_changes_their_own_password(app: Flask, world: World, db: Database) -> None:
    officer = logged_in(app, "officer")
    assert 'name="current"' in officer.get("/staff/password").text
    before = snapshot(db)
    for form, error in [
        (
            {"current": "salah-sekali", "new": "baru-dan-panjang", "again": "baru-dan-panjang"},
            "Kata sandi sekarang salah.",
        ),
        (
            {"current": PASSWORDS["officer"], "new": "baru-dan-panjang", "again": "lain-lagi-ini"},
            "Dua kata sandi baru tidak sama.",
        ),
        (
            {"current": PASSWORDS["officer"], "new": "pendek", "again": "pendek"},
            "Kata sandi 10 karakter atau lebih.",
        ),
    ]:
        page = officer.follow(officer.post("/staff/password", form), "/staff/password")
        assert flashes(page) == [("error", error)], form
    assert snapshot(db) == before
    page = officer.follow(
        officer.post(
            "/staff/password",
            {
                "current": PASSWORDS["officer"],
                "new": "baru-dan-panjang",
                "again": "baru-dan-panjang",
            },
        ),
        "/staff/",
    )
    assert flashes(page) == [("ok", "Kata sandi diganti.")]
    assert Browser(app).login("officer").status_code == 401
    assert Browser(app).login("officer", "baru-dan-panjang").status_code == 302
    assert audit_log(db)[-1][:4] == ("officer", "user.password", "user", "officer")


def test_the_audit_page_shows_who_did_what(admin: Browser, staff: Browser) -> None:
    staff.post("/staff/requests/status", {"numbers": [R2], "status": "ready"})
    page = html.unescape(admin.get("/staff/audit").text)
    row = re.search(
        r"<tr><td>[\d-]+ [\d:]+</td><td>staff</td><td>request.status</td>"
        r"<td>document_request " + R2 + r"</td><td><code>(.*?)</code></td>"
        r"<td><code>(.*?)</code></td></tr>",
        page,
    )
    assert row is not None
    assert json.loads(row.group(1)) == {"status": "processing", "pickup": None}
    assert json.loads(row.group(2)) == {"status": "ready", "pickup": None}


# --- the village officer's fence ----------------------------------------------------------------


def test_an_officer_sees_only_their_village(officer: Browser, admin: Browser, world: World) -> None:
    def numbers_on(browser: Browser, path: str, pattern: str) -> set[str]:
        return set(re.findall(pattern, browser.get(path).text))

    requests = r'name="numbers" value="(\d+)"'
    assert numbers_on(officer, "/staff/requests", requests) == TEMBOK_REQUESTS
    assert numbers_on(admin, "/staff/requests", requests) == TEMBOK_REQUESTS | KAYUPUTIH_REQUESTS
    assert numbers_on(officer, f"/staff/requests?q={R3}", requests) == set()
    assert numbers_on(officer, "/staff/requests?q=0812-0000-0002", requests) == set()

    bookings = r"<tr><td>(\d+)</td>"
    assert numbers_on(officer, "/staff/bookings", bookings) == {world.booking_tembok}
    assert numbers_on(officer, "/staff/bookings?district=51.08.05", bookings) == set()
    assert numbers_on(admin, "/staff/bookings", bookings) == {
        world.booking_tembok,
        world.booking_kayuputih,
    }

    residents = r"<tr><td>(\+\d+)</td>"
    assert numbers_on(officer, "/staff/residents", residents) == {
        GRANNY,
        NEIGHBOUR_EN,
        NEIGHBOUR_STOP,
    }
    assert numbers_on(officer, "/staff/residents?q=0812-0000-0002", residents) == set()
    assert numbers_on(officer, "/staff/residents?q=kayuputih", residents) == set()

    villages = r"<td>\d\d:\d\d\u2013\d\d:\d\d</td>\s*<td>(\w+)</td>"  # en dash
    assert numbers_on(officer, "/staff/visits", villages) == {"Tembok"}
    assert numbers_on(admin, "/staff/visits", villages) == {"Tembok", "Tamblang", "Seririt"}
    assert numbers_on(officer, "/staff/", villages) == {"Tembok"}

    cards = r'<div class="card"><b(?: class="[^"]*")?>(\d+)</b>([^<]+)</div>'
    assert dict((k, v) for v, k in re.findall(cards, officer.get("/staff/").text)) == {
        "SMS terkirim hari ini": "0",
        "SMS gagal hari ini": "0",
        "Sesi USSD hari ini": "0",
        "Permintaan kunjungan rumah terbuka": "1",
        "Permohonan dokumen terbuka": "3",
    }
    assert (
        dict((k, v) for v, k in re.findall(cards, admin.get("/staff/").text))[
            "Permohonan dokumen terbuka"
        ]
        == "4"
    )


def test_an_officer_cannot_reach_another_village_by_changing_the_id(
    officer: Browser, db: Database, world: World
) -> None:
    before = snapshot(db)
    # another village's request, alone or hidden among their own: 404, nothing changes
    for chosen in ([R3], [R1, R3], [R3, R1]):
        response = officer.post(
            "/staff/requests/status", {"numbers": chosen, "status": "collected"}
        )
        assert response.status_code == 404
    assert request_state(db, R1) == ("ready", "Kantor Desa Tembok", 1)
    assert request_state(db, R3) == ("submitted", None, 1)
    # record pages by id belong to the office: refused whatever the id
    for path in (
        f"/staff/visits/{world.visit_other}/edit",
        f"/staff/visits/{world.visit_other}/publish",
        f"/staff/visits/{world.visit_tembok}/edit",
        f"/staff/broadcasts/{world.broadcast}",
        f"/staff/broadcasts/{world.broadcast}/progress.json",
    ):
        assert officer.get(path).status_code == 403, path
    for path in (
        f"/staff/visits/{world.visit_other}/cancel",
        f"/staff/residents/{world.resident_kayuputih}",
        f"/staff/bookings/{world.booking_kayuputih}/cancelled",
        f"/staff/bookings/{world.booking_tembok}/done",
    ):
        assert officer.post(path, {"opted_out": "1"}).status_code == 403, path
    assert snapshot(db) == before


def test_an_officer_only_hands_documents_over(officer: Browser, db: Database) -> None:
    before = snapshot(db)
    for status in ("ready", "rejected", "processing", "submitted", ""):
        response = officer.post("/staff/requests/status", {"numbers": [R2], "status": status})
        assert response.status_code == 403
    assert snapshot(db) == before
    page = officer.get("/staff/requests").text
    assert '<input type="hidden" name="status" value="collected">' in page
    assert 'name="pickup"' not in page

    page = officer.follow(
        officer.post("/staff/requests/status", {"numbers": [R1], "status": "collected"}),
        "/staff/requests",
    )
    assert flashes(page) == [("ok", "1 permohonan diubah; warga diberi tahu lewat SMS.")]
    assert request_state(db, R1) == ("collected", "Kantor Desa Tembok", 2)
    [told] = outbox_rows(db)
    assert (told.recipient, told.kind, told.status) == (GRANNY, "notification", "queued")
    assert audit_log(db) == [
        (
            "officer",
            "request.status",
            "document_request",
            R1,
            {"status": "ready", "pickup": "Kantor Desa Tembok"},
            {"status": "collected", "pickup": "Kantor Desa Tembok"},
        )
    ]


def test_an_officer_registers_requests_for_their_village_only(
    officer: Browser, db: Database
) -> None:
    form_page = officer.get("/staff/requests/new").text
    assert 'name="village"' not in form_page
    response = officer.post(
        "/staff/requests/new",
        {"doc_type": "ktp", "phone": "081299998888", "birth_year": "1990", "village": KAYUPUTIH},
    )
    with db.begin() as session:
        created = session.scalars(
            select(DocumentRequest).where(DocumentRequest.applicant_phone == "+6281299998888")
        ).one()
        assert (created.village_code, created.status, created.doc_type) == (
            TEMBOK,
            "submitted",
            "ktp",
        )
        number = created.number
    page = officer.follow(response, f"/staff/requests?q={number}")
    assert set(re.findall(r'name="numbers" value="(\d+)"', page)) == {number}
    assert audit_log(db) == [
        (
            "officer",
            "request.add",
            "document_request",
            number,
            None,
            {"type": "ktp", "status": "submitted", "village_code": TEMBOK},
        )
    ]


# --- interface translation ----------------------------------------------------------------------

TEMPLATE_TEXT = re.compile(r"""\b_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*[,)]""")
TEMPLATE_CALL = re.compile(r"\b_\(\s*([^)\s]*)")


def _template_texts() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(p for folder in TEMPLATES for p in folder.rglob("*.html")):
        source = path.read_text(encoding="utf-8")
        for double, single in TEMPLATE_TEXT.findall(source):
            found.setdefault(double or single, path.name)
    return found


def _python_texts() -> dict[str, str]:
    """Literal first arguments of translate(…) and lazy_translate(…) in gateway/console/*.py.
    The parser joins adjacent literals ("a " "b" across lines) into one, as Python does."""
    found: dict[str, str] = {}
    for path in sorted((REPO / "console").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("translate", "lazy_translate")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.setdefault(str(node.args[0].value), f"{path.name}:{node.lineno}")
    return found


def _indonesian() -> dict[str, str]:
    with (REPO / "console" / "ui_id.toml").open("rb") as f:
        return tomllib.load(f)


def test_the_text_finders_find_what_they_should() -> None:
    templates, python = _template_texts(), _python_texts()
    assert templates["Log in"] == "login.html"
    assert templates["Type a number and press Dial."] == "simulator.html"  # single quotes
    assert "Call ended." in templates
    assert python["A user name, and a password of 10 characters or more."].startswith("users.py:")
    assert python["Too many failed log-ins. Wait 15 minutes."].startswith("auth.py:")
    assert len(templates) > 150 and len(python) > 25


def test_every_interface_text_has_an_indonesian_entry() -> None:
    texts = {**_template_texts(), **_python_texts()}
    # texts chosen at run time: statuses, roles, document types, kinds, journeys
    for word in (
        *REQUEST_STATUSES,
        *BOOKING_STATUSES,
        *DOC_TYPES,
        *BOOKING_SERVICES,
        *BOOKING_REASONS,
        "admin",
        "staff",
        "village_officer",
        "open",
        "all",
        "queued",
        "sending",
        "sent",
        "delivered",
        "failed",
        "cancelled",
        "planned",
        "notification",
        "reminder",
        "broadcast",
        "reply",
        *journeys(),  # the dashboard's legend
        "None",
    ):
        texts.setdefault(word, "(vocabulary)")
    indonesian = _indonesian()
    missing = {text: where for text, where in texts.items() if text not in indonesian}
    assert missing == {}


def test_translations_keep_their_placeholders() -> None:
    def fields(text: str) -> set[str]:
        return set(re.findall(r"\{(\w*)\}", text))

    wrong = {k: v for k, v in _indonesian().items() if fields(k) != fields(v) or not v.strip()}
    assert wrong == {}


def test_every_template_call_is_a_literal_or_a_known_value() -> None:
    """Dynamic texts come only from the vocabularies checked above."""
    dynamic = set()
    for path in (p for folder in TEMPLATES for p in folder.rglob("*.html")):
        for arg in TEMPLATE_CALL.findall(path.read_text(encoding="utf-8")):
            if not arg.startswith(("'", '"')):
                dynamic.add(arg)
    assert dynamic == {
        "s",
        "b.service",
        "b.reason",
        "b.status",
        "current_user.role",
        "r",
        "u.role",
        "r.doc_type",
        "r.status",
        "t",
        "m.kind",
        "m.status",
    }


# --- the phone simulator ------------------------------------------------------------------------


@pytest.fixture
def configured(app_config: dict[str, Any]) -> Iterator[Any]:
    """Build the app with extra settings (the SIMULATOR_PUBLIC switch)."""
    built: list[Flask] = []

    def make(**settings: Any) -> Flask:
        built.append(create_app({"TESTING": True, **app_config, **settings}))
        return built[-1]

    yield make
    for one in built:
        runtime(one).db.dispose()


def _sim_token(browser: Browser) -> str:
    page = browser.get("/simulator")
    assert page.status_code == 200
    found = re.search(r'var csrf = "([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize("public", [None, True, False])
def test_who_may_use_the_simulator(configured: Any, backend: str, public: bool | None) -> None:
    app = configured() if public is None else configured(SIMULATOR_PUBLIC=public)
    assert cli(app.test_cli_runner(), "demo").exit_code == 0
    open_to_all = public if public is not None else backend == "embedded"
    anonymous = Browser(app)
    anonymous.open_login()  # a session with a CSRF token, not logged in
    page = anonymous.get("/simulator")
    dial = anonymous.client.post(
        "/simulator/dial",
        json={"phone": GRANNY, "text": ""},
        headers={"X-CSRFToken": anonymous.token},
    )
    texted = anonymous.client.post(
        "/simulator/sms",
        json={"phone": GRANNY, "text": "HELP"},
        headers={"X-CSRFToken": anonymous.token},
    )
    inbox = anonymous.get(f"/simulator/inbox?phone=%2B{GRANNY[1:]}")
    got = [(r.status_code, r.headers.get("Location")) for r in (page, dial, texted, inbox)]
    if open_to_all:
        assert got == [(200, None)] * 4
        assert count(runtime(app).db, OutboxMessage) == 1  # the HELP reply
    else:
        assert got == [
            (302, "/staff/login?next=%2Fsimulator"),
            (302, "/staff/login?next=%2Fsimulator%2Fdial"),
            (302, "/staff/login?next=%2Fsimulator%2Fsms"),
            (302, f"/staff/login?next=%2Fsimulator%2Finbox%3Fphone%3D%252B{GRANNY[1:]}"),
        ]
        assert count(runtime(app).db, OutboxMessage) == 0
    # without the page's token nobody may post, open or not
    assert (
        anonymous.client.post("/simulator/dial", json={"phone": GRANNY, "text": ""}).status_code
        == 400
    )
    officer = logged_in(app, "officer")
    assert officer.get("/simulator").status_code == 200


def _dial(
    browser: Browser, token: str, phone: str, text: str, session: str | None = None
) -> dict[str, Any]:
    response = browser.client.post(
        "/simulator/dial",
        json={"phone": phone, "text": text, **({"session": session} if session else {})},
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    result: dict[str, Any] = response.get_json()
    return result


def test_the_simulator_dials_the_same_service_as_ussd(staff: Browser, phone: Phone) -> None:
    token = _sim_token(staff)
    first = _dial(staff, token, "0812-0000-0003", "")  # a test number: allowed everywhere
    assert first["reply"] == phone.dial()
    assert first["reply"].startswith("CON Adminduk Buleleng\n1 ")
    second = _dial(staff, token, "+6281200000003", "3", first["session"])
    assert second == {"session": first["session"], "reply": phone.press("3")}
    assert (
        staff.client.post("/simulator/dial", json={"phone": GRANNY, "text": ""}).status_code == 400
    )  # no token
    bad = staff.client.post(
        "/simulator/dial", json={"phone": "12", "text": ""}, headers={"X-CSRFToken": token}
    )
    assert bad.status_code == 400


def test_the_simulator_texts_and_shows_the_inbox(staff: Browser, db: Database) -> None:
    token = _sim_token(staff)
    assert staff.get("/simulator/inbox?phone=081200000003").get_json() == {
        "phone": "+6281200000003",
        "messages": [],
    }
    response = staff.client.post(
        "/simulator/sms",
        json={"phone": "081200000003", "text": "BANTUAN"},
        headers={"X-CSRFToken": token},
    )
    assert (response.status_code, response.get_json()) == (200, {"result": "ok"})
    [reply] = outbox_rows(db, OutboxMessage.recipient == "+6281200000003")
    inbox = staff.get("/simulator/inbox?phone=%2B6281200000003").get_json()
    assert inbox["phone"] == "+6281200000003"
    assert [(m["id"], m["body"], m["status"]) for m in inbox["messages"]] == [
        (reply.id, reply.body, "queued")
    ]
    assert reply.body.startswith("Adminduk Buleleng. Balas: JADWAL nama desa")
    assert re.fullmatch(r"\d\d:\d\d", inbox["messages"][0]["at"])
    assert staff.get("/simulator/inbox?phone=abc").status_code == 400


def test_outside_the_embedded_default_the_simulator_plays_only_test_numbers(
    staff: Browser, backend: str
) -> None:
    """Nobody reads a resident's SMS or acts as a resident through the simulator in
    production; the embedded demo has no real residents to protect."""
    token = _sim_token(staff)
    resident = "+6281299990002"
    inbox = staff.get(f"/simulator/inbox?phone=%2B{resident[1:]}")
    dial = staff.client.post(
        "/simulator/dial", json={"phone": resident, "text": ""}, headers={"X-CSRFToken": token}
    )
    expected = 403 if backend == "production" else 200
    assert (inbox.status_code, dial.status_code) == (expected, expected)
