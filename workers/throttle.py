"""A send-rate limit shared by every worker: at most R messages per second, all workers
together (operators and providers cap the rate).

Reservation style (GCRA): a caller asks to send ``n`` messages at ``now``; the limiter moves a
shared "next free time" forward by n/R seconds and answers how long the caller must wait
before sending. Over any stretch of time the rate cannot exceed R, and with work waiting it
reaches R. Time is passed in, so tests use a fake clock, not sleeps.
"""

from __future__ import annotations

import threading
from typing import Protocol

import redis

_RESERVE = """
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
if tat < now then tat = now end
redis.call('SET', KEYS[1], tostring(tat + cost), 'PX', math.ceil((tat + cost - now) * 1000) + 60000)
return tostring(tat - now)
"""


class Throttle(Protocol):
    def reserve(self, count: int, now: float) -> float:
        """Seconds to wait before sending ``count`` messages (0: send now)."""
        ...


class NoThrottle:
    def reserve(self, count: int, now: float) -> float:
        return 0.0


class MemoryThrottle:
    """The same limit inside one process (the embedded default)."""

    def __init__(self, per_second: float) -> None:
        self.per_second = per_second
        self._next_free = 0.0
        self._lock = threading.Lock()

    def reserve(self, count: int, now: float) -> float:
        with self._lock:
            start = max(self._next_free, now)
            self._next_free = start + count / self.per_second
            return start - now


class RedisThrottle:
    def __init__(self, client: redis.Redis, per_second: float, key: str = "sms:throttle") -> None:
        self.per_second = per_second
        self.key = key
        self._script = client.register_script(_RESERVE)

    def reserve(self, count: int, now: float) -> float:
        wait = self._script(keys=[self.key], args=[repr(now), repr(count / self.per_second)])
        return max(0.0, float(wait))


def make_throttle(
    per_second: float, client: redis.Redis | None, key: str = "sms:throttle"
) -> Throttle:
    if per_second <= 0:
        return NoThrottle()
    if client is None:
        return MemoryThrottle(per_second)
    return RedisThrottle(client, per_second, key)
