"""Accounts made with the operator CLI (``users create``, the demo's log-ins), and passwords
stored as argon2id with the product's cost."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import select

from gateway.console import auth
from storage.db import Database
from storage.models import User
from tests.console.helpers import Browser, World, audit_log, cli, snapshot
from tests.helpers import TEMBOK


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
        "--actor",
        "made",
    )
    assert (result.exit_code, result.output) == (0, "user kadis (admin) created\n")
    assert audit_log(db) == [
        ("cli:made", "user.create", "user", "kadis", None, {"role": "admin", "village_code": None})
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
    ): "Error: Invalid value for --password: at least 12 characters",
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
