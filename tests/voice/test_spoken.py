"""How screen lines are said (flows/voice.py): pure, no app."""

from __future__ import annotations

import pytest

from flows.catalog import load_catalogs
from flows.voice import keypad_input, spell, spoken_line


@pytest.mark.parametrize(
    ("language", "line", "said"),
    [
        ("id", "Rabu, 30 Sep 2026", "Rabu, 30 September 2026"),
        ("id", "Jam 09:00-14:00", "Jam 9 sampai 14"),
        ("id", "Jam 09:30-14:00", "Jam 9 lewat 30 sampai 14"),
        ("id", "KTP-el ..0011 Siap diambil", "KTP-el berakhiran 0 0 1 1 Siap diambil"),
        ("en", "Wednesday 30 Sep 2026", "Wednesday 30 September 2026"),
        ("en", "09:00-14:00", "9 o'clock to 14 o'clock"),
        ("id", "Desa Mei", "Desa Mei"),  # a word that looks like a month, without a day
    ],
)
def test_lines_as_said(language: str, line: str, said: str) -> None:
    assert spoken_line(load_catalogs()[language], line) == said


def test_keypad() -> None:
    assert spell("98") == "9 8"
    assert keypad_input("12345678#") == "12345678"
    assert keypad_input("*") == "00" and keypad_input("1*") == "00"
    assert keypad_input("00#") == "00"
