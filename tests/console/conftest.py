"""Fixtures of the console's tests, which run on both configurations (tests/conftest.py): the
demo world and a logged-in browser per role.

Argon2 at its production cost is slow on purpose; these tests use the same algorithm with a
tiny cost (``cheap_argon2``), except the one that checks the production parameters."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import delete, select

from gateway.console import auth
from storage import queries
from storage.db import Database
from storage.models import (
    AuditEntry,
    Broadcast,
    HomeVisitBooking,
    ReminderSubscription,
    Resident,
    VillageVisit,
)
from tests.console.helpers import (
    ENGLISH,
    GRANNY,
    NEIGHBOUR_EN,
    NEIGHBOUR_STOP,
    SUBSCRIBER,
    Browser,
    World,
    cli,
    logged_in,
)
from tests.helpers import KAYUPUTIH_SUKASADA, TEMBOK


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id still, at a cost a test suite can afford (verification reads it from the hash)."""
    monkeypatch.setattr(auth, "hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def world(runner: Any, db: Database) -> World:
    result = cli(runner, "demo", "--force")  # (--force: "production" is PostgreSQL and Redis)
    assert result.exit_code == 0, result.output
    with db.begin() as session:
        # The demo's own audit entry aside, the log starts empty: the tests read what the
        # console writes to it.
        session.execute(delete(AuditEntry).where(AuditEntry.action == "demo.load"))
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
            select(HomeVisitBooking).where(HomeVisitBooking.village_code == KAYUPUTIH_SUKASADA)
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


@pytest.fixture
def admin(app: Flask, world: World) -> Browser:
    return logged_in(app, "admin")


@pytest.fixture
def staff(app: Flask, world: World) -> Browser:
    return logged_in(app, "staff")


@pytest.fixture
def officer(app: Flask, world: World) -> Browser:
    return logged_in(app, "officer")
