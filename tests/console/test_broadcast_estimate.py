"""The composer's "about N minutes" at the rate of the provider that takes the broadcast: an
office Android phone sends a few SMS a minute (issue 14)."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import insert

from gateway.runtime import runtime
from storage.db import Database
from storage.models import Resident
from tests.console.helpers import Browser
from tests.helpers import TEMBOK
from workers.providers.android import AndroidProvider
from workers.routing import Paced
from workers.throttle import NoThrottle


def preview(staff: Browser) -> str:
    return staff.post(
        "/staff/broadcasts/new",
        {
            "audience": "village",
            "village": TEMBOK,
            "text": "Petugas datang Kamis.",
            "when": "now",
            "step": "preview",
        },
    ).get_data(as_text=True)


def test_a_village_of_2000_through_the_phone_says_about_67_minutes(
    app: Flask, staff: Browser, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.begin() as session:
        session.execute(
            insert(Resident),
            [
                {"phone": f"+628130000{i:04d}", "village_code": TEMBOK, "language": "id"}
                for i in range(1998)
            ],
        )
    phone = AndroidProvider(
        base_url="http://192.168.1.20:8080", username="sms", password="p", rate_per_minute=30
    )
    monkeypatch.setattr(runtime(app), "sms_provider", Paced(phone, NoThrottle()))
    page = preview(staff)
    assert '<strong id="recipients">2.000</strong>' in page
    # 2,000 messages at 30 a minute
    assert "pengiriman sekitar 67 menit lewat android" in page


def test_without_a_rate_no_duration_is_claimed(staff: Browser) -> None:
    assert 'id="duration"' not in preview(staff)
