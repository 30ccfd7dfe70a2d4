"""SMS keywords (SPEC §4), in Indonesian and English, tolerant of typos.

``parse("jadwl tembok", villages)`` → ``Command("schedule", "tembok")``. Case-insensitive;
a keyword within a small edit distance of a known one counts (``STAUS``, ``BRHENTI``,
``STPO``), but short words must match more closely so ``STOP`` is never read into a random
word. Village names are matched the same way by ``match_village``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

KEYWORDS: dict[str, str] = {
    "JADWAL": "schedule", "SCHEDULE": "schedule",
    "STATUS": "status", "CEK": "status",
    "KUNJUNG": "home_visit", "RUMAH": "home_visit", "VISIT": "home_visit",
    "STOP": "stop", "BERHENTI": "stop", "UNSUBSCRIBE": "stop",
    "MULAI": "start", "START": "start",
    "BANTUAN": "help", "HELP": "help", "INFO": "help",
    "MENU": "menu",
}


@dataclass(frozen=True)
class Command:
    name: str  # schedule | status | home_visit | stop | start | help | menu
    argument: str  # the rest of the message, stripped


def _allowed_distance(word: str) -> int:
    return 0 if len(word) <= 3 else 1 if len(word) <= 5 else 2


def parse(text: str) -> Command | None:
    """The keyword command in ``text``, or None if it does not start with one."""
    words = text.strip().split(maxsplit=1)
    if not words:
        return None
    head = words[0].upper().strip(".,!?:;")
    rest = words[1].strip() if len(words) > 1 else ""
    if head in KEYWORDS:
        return Command(KEYWORDS[head], rest)
    if not head.isalpha():
        return None
    best = min(KEYWORDS, key=lambda k: OSA.distance(head, k))
    if OSA.distance(head, best) <= _allowed_distance(best):
        return Command(KEYWORDS[best], rest)
    return None


def match_village(name: str, villages: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Villages (code, name) that ``name`` most likely means: one if clear, several if
    ambiguous (e.g. two villages called Kayuputih), none if nothing is close."""
    wanted = " ".join(name.split()).casefold()
    if not wanted:
        return []
    exact = [v for v in villages if v[1].casefold() == wanted]
    if exact:
        return exact
    names = [v[1].casefold() for v in villages]
    scored = process.extract(wanted, names, scorer=fuzz.ratio, limit=5, score_cutoff=80)
    if not scored:
        return []
    top = scored[0][1]
    return [villages[index] for _, score, index in scored if score >= top - 0.01]
