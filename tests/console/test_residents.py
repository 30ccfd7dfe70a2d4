"""Residents: opted out and back in, their language, and finding them."""

from __future__ import annotations

import re

from flask import Flask

from gateway.runtime import runtime
from storage.db import Database
from storage.models import Resident
from tests.console.helpers import (
    ENGLISH,
    GRANNY,
    NEIGHBOUR_EN,
    NEIGHBOUR_STOP,
    Browser,
    World,
    audit_log,
    flashes,
)
from tests.helpers import TEMBOK


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
        return set(
            re.findall(r"<tr><td[^>]*>(\+\d+)</td>", staff.get(f"/staff/residents?{query}").text)
        )

    assert listed("") == {GRANNY, ENGLISH, NEIGHBOUR_EN, NEIGHBOUR_STOP}
    assert listed("q=0812-0000-0002") == {ENGLISH}
    assert listed("q=tembok") == {GRANNY, NEIGHBOUR_EN, NEIGHBOUR_STOP}
    assert listed("q=atlantis") == set()
