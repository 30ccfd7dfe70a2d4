"""What the callers key in: whole journeys through flows/screens.toml in a fixed mix, planned
in Python and seeded, so every run plays the same ones."""

from __future__ import annotations

import random
from dataclasses import dataclass

from bench.ussd.population import Caller, Population

# Journey mix, in journeys (not hops). Status checks dominate a civil registry's traffic.
MIX = {
    "status_own": 30,  # 1 -> pick one of my requests -> detail
    "status_other": 10,  # 1 -> (9) -> another phone's request number -> its birth year
    "next_visit": 25,  # 3 -> remind me (or: other village -> district -> village -> remind me)
    "home_visit": 10,  # 2 -> who -> why -> what -> hamlet -> send (again: "already booked")
    "priority": 15,  # 4 -> checklist -> document -> send SMS (or hang up after reading)
    "language": 10,  # 5 -> Indonesian / English
}
JOURNEYS_PER_CALLER = 16  # each caller cycles through its own planned journeys
HAMLETS = ("Kaja", "Kelod", "Banjar Dinas Kauh", "Dauh Pura", "Tengah")


@dataclass(frozen=True)
class Journey:
    name: str
    final: str  # "CON" or "END": what the last reply must be
    keys: tuple[str, ...]  # what the caller types after dialling, one hop each


def journeys_of(caller: Caller, pop: Population, seed: int) -> list[Journey]:
    """The journeys ``caller`` plays, in order: the same for a seed, whoever else calls."""
    rng = random.Random(f"{seed}:{caller.phone}")
    kinds = rng.choices(list(MIX), weights=list(MIX.values()), k=JOURNEYS_PER_CALLER)
    return [plan_journey(kind, caller, pop, rng) for kind in kinds]


def plan_journey(kind: str, caller: Caller, pop: Population, rng: random.Random) -> Journey:
    """One journey of ``caller`` through flows/screens.toml, key by key."""
    if kind == "status_own" and caller.own_requests:
        return Journey(kind, "CON", ("1", str(rng.randint(1, caller.own_requests))))
    if kind in ("status_own", "status_other"):
        number, year, owner = rng.choice(pop.targets)
        while owner == caller.phone:
            number, year, owner = rng.choice(pop.targets)
        other = ("9",) if caller.own_requests else ()  # from my list: "9 other number"
        return Journey("status_other", "CON", ("1", *other, number, str(year)))
    if kind == "next_visit":
        if rng.random() < 0.8:  # the remembered village
            return Journey(kind, "END", ("3", "1"))
        district = rng.randrange(len(pop.villages_per_district))
        village = rng.randint(1, pop.villages_per_district[district])
        return Journey("next_visit_other", "END", ("3", "2", str(district + 1), str(village), "1"))
    if kind == "home_visit":
        hamlet = "1" if rng.random() < 0.6 else rng.choice(HAMLETS)  # "1": skip
        return Journey(
            kind,
            "END",
            (
                "2",
                str(rng.randint(1, 2)),
                str(rng.randint(1, 4)),
                str(rng.randint(1, 4)),
                hamlet,
                "1",
            ),
        )
    if kind == "priority":
        keys = ("4", "1", str(rng.randint(1, 6)))
        if rng.random() < 0.75:
            return Journey(kind, "END", (*keys, "1"))
        return Journey("priority_read", "CON", keys)
    if kind == "language":
        return Journey(kind, "CON", ("5", "2" if rng.random() < 0.3 else "1"))
    raise ValueError(kind)
