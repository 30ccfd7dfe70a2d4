"""The interface translation: every text of the templates and the console's code has an
Indonesian entry with the same placeholders, and texts chosen at run time come from known
vocabularies."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import gateway
from flows import journeys
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


def _indonesian() -> dict[str, str]:
    with (REPO / "console" / "ui_id.toml").open("rb") as f:
        return tomllib.load(f)


def test_the_text_finders_find_what_they_should() -> None:
    templates, python = _template_texts(), _python_texts()
    assert templates["Log in"] == "login.html"
    assert templates["Type a number and press Dial."] == "simulator.html"  # single quotes
    assert "Call ended." in templates
    assert python["A user name, and a password of 12 characters or more."].startswith("users.py:")
    assert python["Too many failed log-ins. Wait {minutes} minutes."].startswith("auth.py:")
    assert len(templates) > 150 and len(python) > 25


def test_every_interface_text_has_an_indonesian_entry() -> None:
    texts = {**_template_texts(), **_python_texts()}
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
        "r.reason",
    }
