"""The interface translation: every text of the templates and the console's code has an
Indonesian entry with the same placeholders, and texts chosen at run time come from known
vocabularies."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any

import gateway
from flows import journeys
from gateway.console import audit, broadcasts, formatting
from storage.vocab import (
    BOOKING_REASONS,
    BOOKING_SERVICES,
    BOOKING_STATUSES,
    CALLBACK_REASONS,
    CALLBACK_STATUSES,
    DOC_TYPES,
    REQUEST_STATUSES,
)

REPO = Path(gateway.__file__).resolve().parent
ROOT = REPO.parent
# Where refusals a person reads are raised (their English template is the message key): the
# actions staff take, and what storage and the audience refuse. (The CSV import's reasons are
# the import's own: gateway/console/requests.py.)
REFUSING = (
    ROOT / "gateway" / "staff_actions.py",
    ROOT / "gateway" / "broadcasts.py",
    *sorted((ROOT / "gateway" / "console").glob("*.py")),
    ROOT / "common" / "request_lifecycle.py",
    ROOT / "storage" / "regions.py",
    ROOT / "storage" / "models.py",
    *sorted((ROOT / "storage" / "queries").glob("*.py")),
)
REFUSALS = ("Refusal", "ActionError", "MoveRefused")
TEMPLATES = (REPO / "templates", REPO / "console" / "templates")
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


def _refusal_calls() -> list[tuple[ast.Call, str]]:
    calls = []
    for path in REFUSING:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in REFUSALS
            ):
                calls.append((node, f"{path.relative_to(ROOT)}:{node.lineno}"))
    return calls


def _refusal_texts() -> dict[str, str]:
    """The templates of every Refusal(…) and ActionError(…) raised where staff's actions are
    refused: each is a message key of the console's catalogs."""
    return {
        str(node.args[0].value): where
        for node, where in _refusal_calls()
        if node.args and isinstance(node.args[0], ast.Constant)
    }


def _vocabulary_texts() -> dict[str, str]:
    """Texts the console picks from its own tables at run time."""
    found: dict[str, str] = {}
    for table, where in (
        (audit.ACTIONS, "audit.ACTIONS"),
        (audit.RECORDS, "audit.RECORDS"),
        (audit.FIELDS, "audit.FIELDS"),
        (broadcasts.STATE_NAMES, "broadcasts.STATE_NAMES"),
    ):
        for text in table.values():
            found.setdefault(text, where)
    return found


def _indonesian() -> dict[str, str]:
    with (REPO / "console" / "ui_id.toml").open("rb") as f:
        return tomllib.load(f)


def test_the_text_finders_find_what_they_should() -> None:
    templates, python = _template_texts(), _python_texts()
    assert templates["Log in"] in ("login.html", "error.html")
    assert templates["Type a number and press Dial."] == "simulator.html"  # single quotes
    assert "Call ended." in templates
    assert python["A user name, and a password of 12 characters or more."].startswith("users.py:")
    assert python["Too many failed log-ins. Wait {minutes} minutes."].startswith("auth.py:")
    assert len(templates) > 150 and len(python) > 25


def test_every_interface_text_has_an_indonesian_entry() -> None:
    texts = {**_template_texts(), **_python_texts(), **_refusal_texts(), **_vocabulary_texts()}
    # texts chosen at run time: statuses, roles, document types, kinds, journeys
    for word in (
        *REQUEST_STATUSES,
        *BOOKING_STATUSES,
        *DOC_TYPES,
        *BOOKING_SERVICES,
        *BOOKING_REASONS,
        *CALLBACK_REASONS,
        *CALLBACK_STATUSES,
        "waiting",
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
        # statuses (the vocabulary above), the import's delimiter names and its refusals (below)
        "before",
        "form.status.data",
        "preview.delimiter",
        "row.problem[0],",
        "key,",
        "booking.service",
        "booking.status",
        "r.reason",
    }


def test_refusals_are_message_keys_with_values_not_sentences_built_in_place() -> None:
    """A refusal's sentence is a literal template, its values passed beside it, so the console
    can look the template up; an f-string would be a different key every time."""
    built = [
        where
        for node, where in _refusal_calls()
        # a constant template, or a sentence the console already translated (a call)
        if node.args and not isinstance(node.args[0], (ast.Constant, ast.Call))
    ]
    assert built == []
    assert "birth year {year} is not between 1900 and {this_year}" in _refusal_texts()
    assert "'{name}' names {n} villages; use a code: {options}" in _refusal_texts()
    assert "{date} is in the past" in _refusal_texts()


def test_a_refusal_reads_in_the_readers_language(app: Any) -> None:
    import datetime as dt

    from flask import session

    from common.refusals import Refusal, Word

    past = Refusal("{date} is in the past", date=dt.date(2026, 11, 1))
    hours = Refusal(
        "end time {end} is not after start time {start}", end=dt.time(9), start=dt.time(14)
    )
    closed = Refusal("booking {number} is already {status}", number="B1", status=Word("done"))
    assert str(past) == "2026-11-01 is in the past"  # the CLI's English
    assert str(hours) == "end time 09:00 is not after start time 14:00"
    with app.test_request_context("/staff/"):
        session["ui_lang"] = "id"
        assert formatting.say(past) == "Minggu, 1 Nov 2026 sudah lewat"
        assert formatting.say(hours) == "jam selesai 09.00 tidak sesudah jam mulai 14.00"
        assert formatting.say(closed) == "permintaan kunjungan B1 sudah selesai"
        session["ui_lang"] = "en"
        assert formatting.say(past) == "Sun 1 Nov 2026 is in the past"


def test_every_refusal_key_has_an_indonesian_entry() -> None:
    """The lifecycle's and the CSV import's refusals are keys (English sentences) with values,
    shown in the reader's language: each is in ui_id.toml."""
    from common import request_lifecycle

    keys = {"comma", "semicolon", "tab", "Request number {value} already exists.", "{value}"}
    for path in (
        Path(request_lifecycle.__file__),
        REPO / "console" / "request_import.py",
    ):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("refuse", "MoveRefused")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                keys.add(str(node.args[0].value))
    assert len(keys) > 15
    indonesian = _indonesian()
    assert {k for k in keys if k not in indonesian} == set()
