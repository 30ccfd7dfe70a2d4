"""SMS keywords (docs/product.md, "SMS"), in Indonesian and English, tolerant of typos.

``parse("jadwl tembok", villages)`` → ``Command("schedule", "tembok")``. Case-insensitive;
a keyword within a small edit distance of a known one counts (``STAUS``, ``JADWL``,
``BRHENTI``), short keywords only when two letters are swapped, and STOP/START never from a
near word (``shop``, ``stok``, ``smart``) — opting out by accident would cost a resident news.
Village names are matched the same way by ``match_village``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

KEYWORDS: dict[str, str] = {
    "JADWAL": "schedule",
    "SCHEDULE": "schedule",
    "STATUS": "status",
    "CEK": "status",
    "KUNJUNG": "home_visit",
    "RUMAH": "home_visit",
    "VISIT": "home_visit",
    "STOP": "stop",
    "BERHENTI": "stop",
    "UNSUBSCRIBE": "stop",
    "MULAI": "start",
    "START": "start",
    "BANTUAN": "help",
    "HELP": "help",
    "INFO": "help",
    "MENU": "menu",
}


# The journey (a name on the main menu, flows/screens.toml) a command starts when the menus
# answer it: RUMAH and BANTUAN always, JADWAL when no village is given or remembered. By name,
# not by menu digit, so reordering the menu cannot send a keyword elsewhere; the validator
# checks them.
JOURNEYS: dict[str, str] = {
    "home_visit": "home_visit",
    "schedule": "next_visit",
    "help": "contact",
}


@dataclass(frozen=True)
class Command:
    name: str  # schedule | status | home_visit | stop | start | help | menu
    argument: str  # the rest of the message, stripped


# Opting out or in changes what a resident receives: only the words themselves, or a slip of
# two neighbouring letters (STPO), count — never a near word like "shop", "stok" or "smart".
STRICT = {"stop", "start"}


def _allowed_distance(keyword: str) -> int:
    return 0 if len(keyword) <= 4 else 1 if len(keyword) <= 6 else 2


def _close(word: str, keyword: str) -> bool:
    distance = OSA.distance(word, keyword)
    swapped = distance == 1 and sorted(word) == sorted(keyword)
    if KEYWORDS[keyword] in STRICT and len(keyword) <= 5:
        return swapped
    return word[0] == keyword[0] and (distance <= _allowed_distance(keyword) or swapped)


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
    return Command(KEYWORDS[best], rest) if _close(head, best) else None


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
