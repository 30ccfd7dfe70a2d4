"""What the console's tests share: the demo world's names and numbers, a browser that logs in
through the real form and posts the CSRF token its pages carry, and short reads of what an
action wrote (rows, the audit log, the outbox)."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from storage import numbers, queries
from storage.db import Database
from storage.models import (
    AuditEntry,
    Broadcast,
    DocumentRequest,
    OutboxMessage,
    RequestStatusChange,
    User,
    VillageVisit,
)
from tests.helpers import count

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


def csrf_in(page: str) -> str:
    found = TOKEN.search(page)
    assert found is not None, "the page has no csrf_token field"
    return found.group(1)


def unlabelled(page: str) -> str:
    """The page without the cells' data-label attributes (the headings a phone shows above
    each value), so a test can read a row as its cells."""
    return re.sub(r' data-label="[^"]*"', "", page)


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


def logged_in(app: Flask, username: str) -> Browser:
    browser = Browser(app)
    response = browser.login(username)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == "/staff/"
    return browser


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
