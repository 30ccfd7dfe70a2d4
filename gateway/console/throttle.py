"""The log-in throttle: slows someone guessing passwords without locking the rightful user out.

Three counts of failed log-ins over a moving window (LOGIN_FAILURE_MINUTES):

- a user name from one address (LOGIN_FAILURES_PER_USER, 5): the guesser at one PC is
  stopped, while the same user at their own desk — another address — still gets in;
- an address, whatever the names (LOGIN_FAILURES_PER_ADDRESS, 30, higher: an office router
  hides many staff, each allowed a few typos);
- a user name from all addresses together (LOGIN_FAILURES_PER_USER_ALL, 50): a guesser with
  many addresses is stopped too, and only such a guesser can lock a name for everyone.

A try is counted *before* its password is checked, in one atomic step that also tests every
count (a Lua script on Redis; a lock in one process), so concurrent tries cannot slip past a
limit. A try that succeeds is taken back and clears its name-and-address count: only
failures are counted, and staff who log in every morning behind one router use up nothing.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis

# KEYS: the counts; ARGV: window (ms), this try's token, then each count's limit. Returns 0
# when the try is counted everywhere, else the position of the first count at its limit.
RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then return i end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, window)
end
return 0
"""


@dataclass(frozen=True)
class Ticket:
    """One try, counted: taken back if it succeeds."""

    token: str
    keys: tuple[str, ...]  # user name and address, address, user name

    @property
    def pair(self) -> str:
        return self.keys[0]


class LoginThrottle:
    def __init__(self, config: Mapping[str, Any], redis_client: redis.Redis | None) -> None:
        self.window = float(config["LOGIN_FAILURE_MINUTES"]) * 60
        self.limits = (
            int(config["LOGIN_FAILURES_PER_USER"]),
            int(config["LOGIN_FAILURES_PER_ADDRESS"]),
            int(config["LOGIN_FAILURES_PER_USER_ALL"]),
        )
        self.redis = redis_client
        self._script = redis_client.register_script(RESERVE) if redis_client else None
        self._lock = threading.Lock()
        self._memory: dict[str, dict[str, float]] = {}  # key -> token -> when

    @property
    def minutes(self) -> int:
        return max(1, round(self.window / 60))

    @staticmethod
    def keys(username: str, address: str) -> tuple[str, str, str]:
        # Hashed: a user name is whatever was typed; the key stays short and plain.
        name = hashlib.sha256(username.casefold().encode()).hexdigest()[:24]
        return (f"login:pair:{name}:{address}", f"login:addr:{address}", f"login:user:{name}")

    def reserve(self, username: str, address: str) -> Ticket | None:
        """Count this try, or None if a count is at its limit (the password is then not
        checked at all)."""
        keys = self.keys(username, address)
        token = secrets.token_hex(8)
        if self._script is not None:
            args: list[str | int] = [int(self.window * 1000), token, *self.limits]
            refused = int(self._script(keys=keys, args=args))
        else:
            refused = self._reserve_in_memory(keys, token)
        return None if refused else Ticket(token, keys)

    def succeeded(self, ticket: Ticket) -> None:
        """The password was right: this try is taken back, and the name-and-address count
        starts again."""
        if self.redis is not None:
            with self.redis.pipeline() as pipe:
                for key in ticket.keys[1:]:
                    pipe.zrem(key, ticket.token)
                pipe.delete(ticket.pair)
                pipe.execute()
            return
        with self._lock:
            for key in ticket.keys[1:]:
                self._memory.get(key, {}).pop(ticket.token, None)
            self._memory.pop(ticket.pair, None)

    def _reserve_in_memory(self, keys: tuple[str, ...], token: str) -> int:
        now = time.monotonic()
        with self._lock:
            if len(self._memory) > 10_000:  # many names tried: drop the counts that ran out
                for key in [k for k, tries in self._memory.items() if not tries]:
                    del self._memory[key]
            for position, (key, limit) in enumerate(zip(keys, self.limits, strict=True), 1):
                tries = self._memory.setdefault(key, {})
                for old, when in list(tries.items()):
                    if when <= now - self.window:
                        del tries[old]
                if len(tries) >= limit:
                    return position
            for key in keys:
                self._memory[key][token] = now
            return 0
