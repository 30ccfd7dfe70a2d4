"""The dashboard's USSD journeys chart follows the flow's main menu."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from flask import Flask

from flows import journeys
from flows.flow import load_flow
from gateway.runtime import runtime
from storage.db import Database
from storage.models import UssdSessionLog
from tests.console.helpers import GRANNY, Browser

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
        ("old_journey", "#a8326e"),  # after the menu's six
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
