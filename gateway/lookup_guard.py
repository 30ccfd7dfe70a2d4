"""Wrong birth years per request number and day: what stops a drawer of SIM cards.

The look-up guard of each phone (5 failures an hour, ``limits`` in caller.py) slows one phone;
an attacker rotating twenty phones read an applicant's birth year in 77 guesses. So the wrong
birth years typed for one request number are counted as well, per local (WITA) day, whichever
phones typed them: past LOOKUP_WRONG_YEARS_PER_NUMBER the number answers no remote look-up
(from a phone that is not the applicant's) until the next day, and its applicant is told once
by SMS. The applicant's own phone is never asked for a year and never stopped.

A guess takes its slot *before* its year is checked (``reserve``), atomically, and gives it
back only when the year was right (``release``): twenty phones guessing at the same moment
cannot get more than the allowed number of wrong years checked. Slots are counted by the
number as typed, known or not, so a closed number looks the same whether it exists or not.

Redis holds the counts for every web process (one key per number and day, gone two days
later); the embedded default keeps them in this process's memory.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol

import redis

from common.local_time import local_today

KEPT_SECONDS = 2 * 86400  # a day's count outlives its day, then Redis forgets it

_RESERVE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return 0
end
return n
"""
_RELEASE = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""


class NumberGuard(Protocol):
    limit: int

    def reserve(self, number: str) -> int:
        """Take a slot for one guess at ``number`` today: its position (1..limit), or 0 when
        the number is closed for today."""
        ...

    def release(self, number: str) -> None:
        """The guess was right: give its slot back."""
        ...

    def closed(self, number: str) -> bool:
        """Whether ``number`` has had its wrong years for today."""
        ...


def _key(number: str, day: dt.date) -> str:
    return f"lookup:wrong-years:{number}:{day.isoformat()}"


class RedisNumberGuard:
    def __init__(self, client: redis.Redis, limit: int) -> None:
        self.client = client
        self.limit = limit
        self._reserve = client.register_script(_RESERVE)
        self._release = client.register_script(_RELEASE)

    def reserve(self, number: str) -> int:
        return int(
            self._reserve(keys=[_key(number, local_today())], args=[self.limit, KEPT_SECONDS])
        )

    def release(self, number: str) -> None:
        self._release(keys=[_key(number, local_today())])

    def closed(self, number: str) -> bool:
        return int(self.client.get(_key(number, local_today())) or 0) >= self.limit


class MemoryNumberGuard:
    """The same counts in this process's memory (the embedded default: one process)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._day: dt.date | None = None
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def _today(self) -> dict[str, int]:
        day = local_today()
        if day != self._day:  # yesterday's counts are over
            self._day, self._counts = day, {}
        return self._counts

    def reserve(self, number: str) -> int:
        with self._lock:
            counts = self._today()
            if counts.get(number, 0) >= self.limit:
                return 0
            counts[number] = counts.get(number, 0) + 1
            return counts[number]

    def release(self, number: str) -> None:
        with self._lock:
            counts = self._today()
            if counts.get(number, 0) > 0:
                counts[number] -= 1

    def closed(self, number: str) -> bool:
        with self._lock:
            return self._today().get(number, 0) >= self.limit
