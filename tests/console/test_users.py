"""Log-ins in the console: an admin creates them, switches them off and on, sets passwords;
everyone changes their own."""

from __future__ import annotations

import json

from flask import Flask
from sqlalchemy import select

from storage.db import Database
from storage.models import User
from tests.console.helpers import (
    PASSWORDS,
    Browser,
    World,
    audit_log,
    flashes,
    logged_in,
    snapshot,
    unlabelled,
)
from tests.helpers import TEMBOK


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
    assert (
        "<tr><td>kelian</td><td>perangkat desa</td><td>Tembok (Tejakula)</td><td>ya</td>\n"
        in unlabelled(page)
    )
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
            "Nama pengguna, dan kata sandi 12 karakter atau lebih.",
        ),
        (
            {"username": " ", "password": "sepuluh-huruf", "role": "staff"},
            "Nama pengguna, dan kata sandi 12 karakter atau lebih.",
        ),
        ({"username": "baru", "password": "sepuluh-huruf", "role": "root"}, "Pilih peran."),
        (
            {
                "username": "baru",
                "password": "sepuluh-huruf",
                "role": "village_officer",
                "village": "",
            },
            "Pilih desa.",
        ),
        (
            {
                "username": "baru",
                "password": "sepuluh-huruf",
                "role": "village_officer",
                "village": "Atlantis",
            },
            "tidak ada desa dengan kode atau nama 'Atlantis'",
        ),
    ]:
        response = admin.post("/staff/users", form)
        assert response.status_code == 200  # the form again, as it was typed
        assert flashes(response.text) == [("error", error)], form
        if form["role"] in ("staff", "village_officer"):
            assert f'<option value="{form["role"]}" selected>' in response.text
        assert (
            f'id="village" name="village" placeholder="Tembok" value="{form.get("village", "")}"'
            in response.text
        )
        assert "sepuluh-huruf" not in response.text  # a password is never sent back
    assert snapshot(db) == before


def test_a_new_user_is_staff_unless_chosen_otherwise(admin: Browser) -> None:
    page = admin.get("/staff/users").text
    assert '<option value="staff" selected>' in page
    assert page.count(" selected>") == 1


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
            "Kata sandi 12 karakter atau lebih.",
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
            "Kata sandi 12 karakter atau lebih.",
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
