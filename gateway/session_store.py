"""Where a caller's conversation lives between two hops, and their cached profile.

Two keys per phone number, both small JSON documents:
- the call: the current session's flow state, the replies already given (so a repeated
  callback gets the same answer), kept for the resume window (SPEC §3: 10 minutes);
- the profile: language and village, read from the database once and then served from here,
  so a hop that needs no database does not touch it.
Plus one list: finished-session records waiting to be written to the session log.

``RedisStore`` is the production store (web processes stay stateless); ``MemoryStore`` is the
embedded default's (one process, no Redis). Both behave the same and are tested the same.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Protocol

import redis

Record = dict[str, Any]


class CallStore(Protocol):
    def load(self, phone: str) -> tuple[Record | None, Record | None]:
        """The caller's call record and cached profile (None where absent), in one round trip."""
        ...

    def save(self, phone: str, call: Record, logs: list[Record]) -> None:
        """Keep the call record for the resume window; queue session-log records."""
        ...

    def save_profile(self, phone: str, profile: Record) -> None: ...
    def forget_profile(self, phone: str) -> None: ...
    def drain_logs(self, limit: int) -> list[Record]: ...
    def ping(self) -> bool: ...


def _call_key(prefix: str, phone: str) -> str:
    return f"{prefix}:call:{phone}"


def _profile_key(phone: str) -> str:
    return f"ussd:profile:{phone}"


LOG_KEY = "ussd:session-log"


class RedisStore:
    def __init__(
        self, client: redis.Redis, call_ttl: int, profile_ttl: int, prefix: str = "ussd"
    ) -> None:
        self.redis = client
        self.call_ttl = call_ttl
        self.profile_ttl = profile_ttl
        self.prefix = prefix  # "ussd" or "sms": one conversation per channel and phone

    def load(self, phone: str) -> tuple[Record | None, Record | None]:
        call, profile = self.redis.mget([_call_key(self.prefix, phone), _profile_key(phone)])  # type: ignore[misc]
        return (json.loads(call) if call else None, json.loads(profile) if profile else None)

    def save(self, phone: str, call: Record, logs: list[Record]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(
            _call_key(self.prefix, phone), json.dumps(call, separators=(",", ":")), ex=self.call_ttl
        )
        if logs:
            pipe.rpush(LOG_KEY, *(json.dumps(r) for r in logs))
        pipe.execute()

    def save_profile(self, phone: str, profile: Record) -> None:
        self.redis.set(_profile_key(phone), json.dumps(profile), ex=self.profile_ttl)

    def forget_profile(self, phone: str) -> None:
        self.redis.delete(_profile_key(phone))

    def drain_logs(self, limit: int) -> list[Record]:
        pipe = self.redis.pipeline(transaction=True)  # take and trim atomically
        pipe.lrange(LOG_KEY, 0, limit - 1)
        pipe.ltrim(LOG_KEY, limit, -1)
        raw, _ = pipe.execute()
        return [json.loads(r) for r in raw]

    def ping(self) -> bool:
        return bool(self.redis.ping())


class MemoryStore:
    """The same store in this process's memory, for the embedded default and quick tests."""

    def __init__(
        self,
        call_ttl: int,
        profile_ttl: int,
        clock: Any = time.monotonic,
        prefix: str = "ussd",
        shared: MemoryStore | None = None,
    ) -> None:
        self.call_ttl = call_ttl
        self.profile_ttl = profile_ttl
        self.clock = clock
        self.prefix = prefix
        # A second store (the SMS channel's) shares the first one's memory: same profiles.
        self._data: dict[str, tuple[float, str]] = shared._data if shared else {}
        self._logs: list[Record] = shared._logs if shared else []
        self._lock: threading.Lock = shared._lock if shared else threading.Lock()

    def _get(self, key: str) -> Record | None:
        item = self._data.get(key)
        if item is None or item[0] < self.clock():
            self._data.pop(key, None)
            return None
        return json.loads(item[1])  # type: ignore[no-any-return]

    def load(self, phone: str) -> tuple[Record | None, Record | None]:
        with self._lock:
            return self._get(_call_key(self.prefix, phone)), self._get(_profile_key(phone))

    def save(self, phone: str, call: Record, logs: list[Record]) -> None:
        with self._lock:
            self._data[_call_key(self.prefix, phone)] = (
                self.clock() + self.call_ttl,
                json.dumps(call),
            )
            self._logs.extend(logs)

    def save_profile(self, phone: str, profile: Record) -> None:
        with self._lock:
            self._data[_profile_key(phone)] = (self.clock() + self.profile_ttl, json.dumps(profile))

    def forget_profile(self, phone: str) -> None:
        with self._lock:
            self._data.pop(_profile_key(phone), None)

    def drain_logs(self, limit: int) -> list[Record]:
        with self._lock:
            taken, self._logs = self._logs[:limit], self._logs[limit:]
            return taken

    def ping(self) -> bool:
        return True
