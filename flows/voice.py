"""The screens, spoken (issue 13): what a voice call says for a turn of the engine, and which
keys it waits for. Pure, like the engine: the same flows, the same state, the same pages as
USSD; only the rendering differs.

A screen's lines become sentences: ``1 Cek status dokumen`` is read "Untuk Cek status dokumen,
tekan 1." (``voice.option``), the navigation line "Tekan 0 untuk kembali, atau bintang untuk
menu utama." (``voice.nav``), ``..1234`` "berakhiran 1 2 3 4". A screen whose keys all have one
digit takes one key press; one with longer keys (``98``, a list of ten or more) or typed
numbers (a request number, a birth year) ends with ``#``. On the keypad ``*`` means ``00``
(home), since a one-key prompt cannot take two zeros.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from babel.dates import get_month_names

from flows.catalog import Catalog
from flows.engine import FOOTER_TEXT, HOME, MORE_TEXT, Engine, Turn

OPTION = re.compile(r"^(\d{1,3}) (.+)$")
ENDING = re.compile(r"\.\.(\d+)")
TIME = re.compile(r"\b(\d{1,2}):(\d{2})\b")
TIME_RANGE = re.compile(r"\b(\d{1,2}:\d{2})\s*[-\u2013]\s*(\d{1,2}:\d{2})\b")
INPUT_DIGITS = 12  # the longest number a caller types (a request number has 8)
MAX_DTMF = 20  # more digits than any answer has: refused by the webhook

# Texts of the [voice] section every catalog must have (flows/validate.py).
VOICE_KEYS = (
    "voice.welcome",
    "voice.option",
    "voice.nav",
    "voice.more",
    "voice.finish",
    "voice.type_number",
    "voice.ending",
    "voice.until",
    "voice.time_whole",
    "voice.time",
    "voice.no_input",
    "voice.goodbye",
    "voice.failure",
)


@dataclass(frozen=True)
class Prompt:
    sentences: tuple[str, ...]  # each one audio file
    digits: int  # keys to wait for (0: the call ends after the sentences)
    finish_on_hash: bool


def spell(digits: str) -> str:
    """Digits read one by one: "98" → "9 8" (a synthesizer would say "ninety-eight")."""
    return " ".join(digits)


def speak(engine: Engine, turn: Turn, *, welcome: bool = False) -> Prompt:
    """The prompt for ``turn`` (a turn of ``engine``, the USSD engine: same pages)."""
    catalog = engine.catalogs[str(turn.state["lang"])]
    screen = engine.flow.screens[turn.state["screen"]]
    sentences = [catalog.text("voice.welcome")] if welcome else []
    longest = 1
    for line in turn.text.split("\n"):
        sentence, key = _sentence(catalog, line)
        if sentence:
            sentences.append(sentence)
        if key:
            longest = max(longest, len(key))
    if turn.end:
        sentences.append(catalog.text("voice.goodbye"))
        return Prompt(tuple(sentences), 0, False)
    if screen.type == "input":
        sentences.append(catalog.text("voice.type_number"))
        return Prompt(tuple(sentences), INPUT_DIGITS, True)
    if longest > 1:
        sentences.append(catalog.text("voice.finish"))
        return Prompt(tuple(sentences), longest, True)
    return Prompt(tuple(sentences), 1, False)


def _sentence(catalog: Catalog, line: str) -> tuple[str, str | None]:
    """A screen line as spoken, and the key it offers (if any)."""
    line = line.strip()
    if not line:
        return "", None
    if line == catalog.text(FOOTER_TEXT):
        return catalog.text("voice.nav"), None
    if line == catalog.text(MORE_TEXT):
        key = line.split(" ", 1)[0]
        return catalog.text("voice.more", press=spell(key)), key
    match = OPTION.match(line)
    if match:
        key, label = match.groups()
        return catalog.text(
            "voice.option", label=spoken_line(catalog, label), press=spell(key)
        ), key
    return spoken_line(catalog, line), None


def spoken_line(catalog: Catalog, text: str) -> str:
    """A line of a screen as it is said: "..1234" digit by digit, "09:00-14:00" as
    "9 sampai 14", "30 Sep" as "30 September" (synthesizers read abbreviations letter by
    letter or not at all)."""
    text = ENDING.sub(lambda m: catalog.text("voice.ending", digits=spell(m.group(1))), text)
    text = TIME_RANGE.sub(
        lambda m: f"{m.group(1)} {catalog.text('voice.until')} {m.group(2)}", text
    )
    text = TIME.sub(lambda m: _time(catalog, m.group(1), m.group(2)), text)
    months = _months(catalog.locale)
    if months:
        text = months[0].sub(lambda m: f"{m.group(1)} {months[1][m.group(2)]}", text)
    return text


def _time(catalog: Catalog, hour: str, minute: str) -> str:
    if minute == "00":
        return catalog.text("voice.time_whole", hour=int(hour))
    return catalog.text("voice.time", hour=int(hour), minute=int(minute))


@cache
def _months(locale: str) -> tuple[re.Pattern[str], dict[str, str]] | None:
    """A day and an abbreviated month ("30 Sep"), and each abbreviation's full name."""
    try:
        short = get_month_names("abbreviated", locale=locale)
        wide = get_month_names("wide", locale=locale)
    except (ValueError, LookupError):
        return None
    names = {str(short[n]).rstrip("."): str(wide[n]) for n in short}
    names = {k: v for k, v in names.items() if k != v}
    if not names:
        return None
    pattern = "|".join(re.escape(k) for k in sorted(names, key=len, reverse=True))
    return re.compile(rf"\b(\d{{1,2}}) ({pattern})\.?(?=\W|$)"), names


def keypad_input(digits: str) -> str:
    """What the caller pressed, as the engine reads input: ``#`` (the end key) dropped, ``*``
    is home."""
    pressed = digits.strip().rstrip("#")
    if "*" in pressed:
        return HOME
    return pressed


def fixed_sentences(engine: Engine) -> set[tuple[str, str]]:
    """Every sentence of every screen that needs nothing from the outside world, in every
    language, as (language, sentence): what ``voice render`` synthesizes ahead."""
    found: set[tuple[str, str]] = set()
    for code, catalog in engine.catalogs.items():
        for key in VOICE_KEYS:
            if not catalog.placeholders(key):
                found.add((code, catalog.text(key)))
        found.add((code, catalog.text("voice.more", press=spell("98"))))
        for screen in engine.flow.screens.values():
            if screen.text and not catalog.placeholders(screen.text):
                for line in catalog.text(screen.text).split("\n"):
                    sentence, _ = _sentence(catalog, line)
                    if sentence:
                        found.add((code, sentence))
            for option in screen.options:
                if not catalog.placeholders(option.label):
                    sentence, _ = _sentence(catalog, f"{option.key} {catalog.text(option.label)}")
                    found.add((code, sentence))
        languages = [c.name for c in engine.catalogs.values()]  # the language menu's items
        found.update((code, sentence) for sentence in list_sentences(catalog, languages))
    return found


def list_sentences(catalog: Catalog, labels: list[str]) -> list[str]:
    """The sentences of a list screen's items (districts, villages), numbered as the engine
    numbers them."""
    return [_sentence(catalog, f"{n} {label}")[0] for n, label in enumerate(labels, 1)]
