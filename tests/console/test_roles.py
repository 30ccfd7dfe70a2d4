"""Who may open what: every page and action for every role, the menu each role sees, the
interface language switch, and a village officer's fence around their village."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from sqlalchemy import select

from common.local_time import local_today
from storage.db import Database
from storage.models import DocumentRequest, Resident
from tests.console.helpers import (
    GRANNY,
    KAYUPUTIH_REQUESTS,
    NEIGHBOUR_EN,
    NEIGHBOUR_STOP,
    R1,
    R2,
    R3,
    TEMBOK_REQUESTS,
    Browser,
    World,
    audit_log,
    flashes,
    logged_in,
    outbox_rows,
    request_state,
    snapshot,
)
from tests.helpers import KAYUPUTIH_SUKASADA, TEMBOK

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
    "/staff/callbacks": OFFICE,
    "/staff/callbacks?status=called": OFFICE,
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
    "/staff/callbacks/1/called": OFFICE,
    "/staff/callbacks/1/not_reached": OFFICE,
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
    if backend == "embedded":
        expected["/simulator"] = (200, None)  # the demo: open to all
    elif who == "anonymous":
        expected["/simulator"] = (302, "/staff/login?next=%2Fsimulator")
    else:  # production: admins and staff only
        expected["/simulator"] = (403 if who == "officer" else 200, None)
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
            "Minta ditelepon",
            "Kotak keluar",
            "Warga",
            "Suara telepon",
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
            "Minta ditelepon",
            "Kotak keluar",
            "Warga",
            "Suara telepon",
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


# --- the village officer's fence ----------------------------------------------------------------


def test_an_officer_sees_only_their_village(officer: Browser, admin: Browser, world: World) -> None:
    def numbers_on(browser: Browser, path: str, pattern: str) -> set[str]:
        return set(re.findall(pattern, browser.get(path).text))

    requests = r'name="numbers" value="(\d+)"'
    assert numbers_on(officer, "/staff/requests", requests) == TEMBOK_REQUESTS
    assert numbers_on(admin, "/staff/requests", requests) == TEMBOK_REQUESTS | KAYUPUTIH_REQUESTS
    assert numbers_on(officer, f"/staff/requests?q={R3}", requests) == set()
    assert numbers_on(officer, "/staff/requests?q=0812-0000-0002", requests) == set()

    bookings = r"<tr><td[^>]*>(\d+)</td>"
    assert numbers_on(officer, "/staff/bookings", bookings) == {world.booking_tembok}
    assert numbers_on(officer, "/staff/bookings?district=51.08.05", bookings) == set()
    assert numbers_on(admin, "/staff/bookings", bookings) == {
        world.booking_tembok,
        world.booking_kayuputih,
    }

    residents = r"<tr><td[^>]*>(\+\d+)</td>"
    assert numbers_on(officer, "/staff/residents", residents) == {
        GRANNY,
        NEIGHBOUR_EN,
        NEIGHBOUR_STOP,
    }
    assert numbers_on(officer, "/staff/residents?q=0812-0000-0002", residents) == set()
    assert numbers_on(officer, "/staff/residents?q=kayuputih", residents) == set()

    # 09.00-14.00 WITA (an en dash), then "Tembok (Tejakula)"
    villages = r"<td[^>]*>\d\d\.\d\d\u2013\d\d\.\d\d WITA</td>\s*<td[^>]*>(\w+) \("
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
        "Telepon balik hari ini": "0",
        "Menit telepon suara hari ini": "0",
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
        {
            "doc_type": "ktp",
            "phone": "081299998888",
            "birth_year": "1990",
            "village": KAYUPUTIH_SUKASADA,
        },
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
    # Melali Kecapil: the neighbour gets the number, and where to check it, by SMS
    [told] = outbox_rows(db)
    assert (told.recipient, told.kind, told.status, told.dedupe_key) == (
        "+6281299998888",
        "notification",
        "queued",
        f"request:{created.id}:registered",
    )
    assert told.body == (
        f"Adminduk Buleleng: permohonan KTP-el Anda terdaftar, nomor {number}. Cek status di *123#."
    )
