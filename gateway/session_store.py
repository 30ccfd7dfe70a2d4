"""Where a caller's conversation lives between two hops, and their cached profile.

Two keys per phone number, both small JSON documents:
- the call: the current session's flow state, the replies already given (so a repeated
  callback gets the same answer), kept for the resume window (docs/product.md: 10 minutes);
- the profile: language and village, read from the database once and then served from here,
  so a hop that needs no database does not touch it.
Plus one list: finished-session records waiting to be written to the session log.

Plus a small cache of values every caller shares (the next visit to a village), which only
the Redis store keeps: on the embedded default the operator CLI is another process, whose
changes a cache in the web process's memory would not see.

``RedisStore`` is the production store (web processes stay stateless); ``MemoryStore`` is the
embedded default's (one process, no Redis). Both behave the same and are tested the same.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Protocol

import orjson
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from storage.outages import REDIS, outages

Record = dict[str, Any]


class CallStore(Protocol):
    def load(self, phone: str) -> tuple[Record | None, Record | None]:
        """The caller's call record and cached profile (None where absent), in one round trip."""
        ...

    def save(
        self, phone: str, call: Record, logs: list[Record], *, settle_later: bool = False
    ) -> None:
        """Keep the call record for the resume window; queue session-log records.
        ``settle_later``: the write is sent now and its reply read by ``settle()``, which the
        caller must call before the caller of the USSD code sees anything."""
        ...

    def hold(self) -> None:
        """A request begins: keep one connection for it until ``settle()`` (one check-out per
        request instead of one per command)."""
        ...

    def settle(self) -> None:
        """The request ends: read the replies of writes sent with ``settle_later`` (raise if
        one failed) and give the connection back."""
        ...

    def save_profile(self, phone: str, profile: Record) -> None: ...
    def forget_profile(self, phone: str) -> None: ...
    def drain_logs(self, limit: int) -> list[Record]: ...

    def requeue_logs(self, records: list[Record]) -> None:
        """Put drained records back (writing them failed), first in line."""
        ...

    def ping(self) -> bool: ...

    def cached(self, key: str) -> Any:
        """A shared cached value, or None if absent (or this store keeps no cache)."""
        ...

    def cache(self, key: str, value: Any, ttl: int) -> None: ...
    def uncache(self, *keys: str) -> None: ...


def _call_key(prefix: str, phone: str) -> str:
    return f"{prefix}:call:{phone}"


def _profile_key(phone: str) -> str:
    return f"ussd:profile:{phone}"


LOG_KEY = "ussd:session-log"
CACHE_PREFIX = "cache:"

Command = tuple[str | bytes | int, ...]

UNREACHABLE_AFTER = 3  # failed check-outs in a row: Redis is taken to be down...
PROBE_SECONDS = 0.1  # ...and tried again by one hop per process this often


class HopConnection:
    """The session store's round trips on connections of the client's own pool (redis-py's
    ``ConnectionPool``, which ``redis.Redis`` uses too), without the client's per-command
    machinery: its check-out per command, retry wrapper and response callbacks cost a menu hop
    more CPU than the hop's own work (docs/benchmarks.md). It is still redis-py's connection,
    protocol encoder and (hiredis) parser.

    A connection is held for one request at most. Inside a request (``hold()``, then
    ``settle()`` when it ends: the WSGI wrapper in gateway/ussd.py) the first command checks
    one out and ``settle()`` gives it back, whatever happened -- one check-out per hop.
    Outside a request each ``execute`` checks one out and gives it back. The pool tests a
    connection at check-out and reconnects a dead one (and checks out once more if that one is
    closed again before use); a connection that fails under a command
    is disconnected and given back, and the command sent once more on another (as the client's
    own retry does); a second failure propagates (the hop answers with the polite END)."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self.pool = pool
        self._local = threading.local()
        # Shared by the process's threads; a race between them only means one try more.
        self._failures = 0  # failed check-outs in a row
        self._next_probe = 0.0

    def hold(self) -> None:
        """Until ``settle()``, keep the connection the next command checks out."""
        self._local.holding = True

    def send(self, *commands: Command) -> None:
        """Send the commands now; ``settle()`` reads their replies. Why: the hop's final write
        then travels while Flask and the server finish the response, and its reply is usually
        waiting by the time ``settle()`` reads it -- a blocked read (two context switches, the
        costliest part of a round trip on a busy machine) saved per hop."""
        self._replies()
        self._send(commands)

    def settle(self) -> None:
        """Read the replies of what ``send`` sent (the first failed command's error raised)
        and give the connection back: the end of a request."""
        try:
            self._replies()
        finally:
            self._local.holding = False
            self._give_back()

    def execute(self, *commands: Command) -> list[Any]:
        """Send the commands in one write, read their replies (errors raised, in order)."""
        try:
            self.send(*commands)
            return self._replies()
        finally:
            if not getattr(self._local, "holding", False):
                self._give_back()

    def _take(self) -> Any:
        """The connection this thread holds, or one checked out of the pool now (which raises
        if Redis cannot be reached: the pool gave it back already)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = self._check_out()
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _check_out(self) -> Any:
        """A connection from the pool, failing at once while Redis is known to be unreachable:
        after UNREACHABLE_AFTER check-outs in a row failed (each having tried to connect, with
        the pool's retries), only one hop per process every PROBE_SECONDS tries again. Why: a
        sync worker waiting out connect timeouts or retry back-off serves nobody, and the
        callers queued behind it would be answered long after Redis came back."""
        if self._failures >= UNREACHABLE_AFTER and time.monotonic() < self._next_probe:
            raise RedisConnectionError("Redis is unreachable (not trying again for a moment)")
        try:
            conn = self._get_connection()
        except (RedisConnectionError, RedisTimeoutError, OSError):
            self._failures += 1
            self._next_probe = time.monotonic() + PROBE_SECONDS
            raise
        self._failures = 0
        return conn

    def _get_connection(self) -> Any:
        try:
            return self.pool.get_connection()
        except RedisConnectionError as error:
            if "connecting to" in str(error):  # refused or timed out: Redis is not there
                raise
            # Connected, then closed before use: the pool reconnects a connection the server
            # closed, and a CLIENT KILL (or a restart) can land in between. Once more.
            return self.pool.get_connection()

    def _give_back(self, disconnect: bool = False) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        self._local.unsettled = ()
        if conn is None or self._local.pid != os.getpid():
            return  # (forked: the pool of this process made new connections)
        if disconnect:
            conn.disconnect()  # the pool reconnects it at its next check-out
        self.pool.release(conn)

    def _send(self, commands: tuple[Command, ...]) -> None:
        for attempt in (1, 2):
            conn = self._take()
            try:
                conn.send_packed_command(conn.pack_commands(commands))
                break
            except (RedisConnectionError, RedisTimeoutError, OSError):
                self._give_back(disconnect=True)
                if attempt == 2:
                    raise
        self._local.unsettled = commands

    def _replies(self, resend: bool = True) -> list[Any]:
        """The replies of the commands sent last (every one, or the socket desyncs). A
        connection lost before they came: the commands are sent once more on another."""
        commands: tuple[Command, ...] = getattr(self._local, "unsettled", ())
        if not commands:
            return []
        self._local.unsettled = ()
        if self._local.pid != os.getpid():
            return []  # sent by the process this one was forked from: not ours to read
        conn = self._local.conn
        try:
            replies = [_read(conn) for _ in commands]
        except (RedisConnectionError, RedisTimeoutError, OSError):
            self._give_back(disconnect=True)
            if not resend:
                raise
            self._send(commands)
            return self._replies(resend=False)
        outages.answered(REDIS)
        _raise_first_error(replies)
        return replies


def _raise_first_error(replies: list[Any]) -> None:
    for reply in replies:
        if isinstance(reply, redis.ResponseError):
            raise reply


def _read(conn: Any) -> Any:
    try:
        return conn.read_response()
    except redis.ResponseError as error:  # a command's own error: the connection is fine
        return error


def _dumps(value: Any) -> bytes:
    # Like json.dumps: non-string keys (a number picked from a menu) become strings.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def _loads(raw: bytes | str | None) -> Any:
    return orjson.loads(raw) if raw else None


class RedisStore:
    def __init__(
        self,
        client: redis.Redis,
        call_ttl: int,
        profile_ttl: int,
        prefix: str = "ussd",
        hop: HopConnection | None = None,
    ) -> None:
        self.redis = client
        self.call_ttl = call_ttl
        self.profile_ttl = profile_ttl
        self.prefix = prefix  # "ussd" or "sms": one conversation per channel and phone
        # (the SMS channel's store shares the USSD one's: one connection per request)
        self.hop = hop or HopConnection(client.connection_pool)

    def load(self, phone: str) -> tuple[Record | None, Record | None]:
        [(call, profile)] = self.hop.execute(
            ("MGET", _call_key(self.prefix, phone), _profile_key(phone))
        )
        return _loads(call), _loads(profile)

    def save(
        self, phone: str, call: Record, logs: list[Record], *, settle_later: bool = False
    ) -> None:
        commands: list[Command] = [
            ("SET", _call_key(self.prefix, phone), _dumps(call), "EX", self.call_ttl)
        ]
        if logs:
            commands.append(("RPUSH", LOG_KEY, *(_dumps(r) for r in logs)))
        if settle_later:
            self.hop.send(*commands)
        else:
            self.hop.execute(*commands)

    def hold(self) -> None:
        self.hop.hold()

    def settle(self) -> None:
        self.hop.settle()

    def save_profile(self, phone: str, profile: Record) -> None:
        self.hop.execute(("SET", _profile_key(phone), _dumps(profile), "EX", self.profile_ttl))

    def forget_profile(self, phone: str) -> None:
        self.redis.delete(_profile_key(phone))

    def drain_logs(self, limit: int) -> list[Record]:
        pipe = self.redis.pipeline(transaction=True)  # take and trim atomically
        pipe.lrange(LOG_KEY, 0, limit - 1)
        pipe.ltrim(LOG_KEY, limit, -1)
        raw, _ = pipe.execute()
        return [orjson.loads(r) for r in raw]

    def requeue_logs(self, records: list[Record]) -> None:
        if records:
            self.redis.lpush(LOG_KEY, *(_dumps(r) for r in reversed(records)))

    def ping(self) -> bool:
        return bool(self.redis.ping())

    def cached(self, key: str) -> Any:
        [raw] = self.hop.execute(("GET", CACHE_PREFIX + key))
        return _loads(raw)

    def cache(self, key: str, value: Any, ttl: int) -> None:
        self.hop.execute(("SET", CACHE_PREFIX + key, _dumps(value), "EX", ttl))

    def uncache(self, *keys: str) -> None:
        if keys:
            self.redis.delete(*(CACHE_PREFIX + k for k in keys))


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
        self._data: dict[str, tuple[float, bytes]] = shared._data if shared else {}
        self._logs: list[Record] = shared._logs if shared else []
        self._lock: threading.Lock = shared._lock if shared else threading.Lock()

    def _get(self, key: str) -> Record | None:
        item = self._data.get(key)
        if item is None or item[0] < self.clock():
            self._data.pop(key, None)
            return None
        return orjson.loads(item[1])  # type: ignore[no-any-return]

    def load(self, phone: str) -> tuple[Record | None, Record | None]:
        with self._lock:
            return self._get(_call_key(self.prefix, phone)), self._get(_profile_key(phone))

    def save(
        self, phone: str, call: Record, logs: list[Record], *, settle_later: bool = False
    ) -> None:
        with self._lock:
            self._data[_call_key(self.prefix, phone)] = (
                self.clock() + self.call_ttl,
                _dumps(call),
            )
            self._logs.extend(logs)

    def hold(self) -> None:
        pass  # no connection

    def settle(self) -> None:
        pass  # written at once

    def save_profile(self, phone: str, profile: Record) -> None:
        with self._lock:
            self._data[_profile_key(phone)] = (self.clock() + self.profile_ttl, _dumps(profile))

    def forget_profile(self, phone: str) -> None:
        with self._lock:
            self._data.pop(_profile_key(phone), None)

    def drain_logs(self, limit: int) -> list[Record]:
        with self._lock:
            taken, self._logs = self._logs[:limit], self._logs[limit:]
            return taken

    def requeue_logs(self, records: list[Record]) -> None:
        with self._lock:
            self._logs[:0] = records

    def ping(self) -> bool:
        return True

    # No shared cache on the embedded default (see the module's docstring): always a miss.

    def cached(self, key: str) -> Any:
        return None

    def cache(self, key: str, value: Any, ttl: int) -> None:
        pass

    def uncache(self, *keys: str) -> None:
        pass
