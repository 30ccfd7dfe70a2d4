"""While Redis or the database is down every request fails the same way. The operator needs
to know that it is down, since when, how much it costs and when it came back -- not ten
thousand identical tracebacks. So a failure that says "this server cannot be reached" is
logged as one line when the outage starts, one line per interval while it lasts (with the
number of failed requests), and one line when the server answers again.

``dependency_of(error)`` tells such failures from any other error (a bug, a bad statement),
which keeps its traceback. ``outages`` is the process's log; the code that talks to a server
tells it ``answered(name)`` after a success, which costs a dictionary look-up.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import redis
from sqlalchemy import exc as sa_exc

log = logging.getLogger("outages")

REDIS = "redis"
DATABASE = "database"

_REDIS_DOWN = (
    redis.ConnectionError,  # refused, reset, "Too many connections", still loading
    redis.TimeoutError,
    redis.exceptions.OutOfMemoryError,  # refuses writes
    redis.exceptions.ReadOnlyError,
)
_DATABASE_DOWN = (
    sa_exc.OperationalError,  # refused, terminated, not accepting connections, locked
    sa_exc.TimeoutError,  # no free connection in the pool in time
    sa_exc.DisconnectionError,
    psycopg.OperationalError,  # the hop's reads that psycopg runs itself
    sqlite3.OperationalError,
)


def dependency_of(error: BaseException) -> str | None:
    """``REDIS`` or ``DATABASE`` if ``error`` means that server is down or unreachable."""
    if isinstance(error, _REDIS_DOWN):
        return REDIS
    if isinstance(error, redis.ResponseError) and str(error).startswith("MISCONF"):
        return REDIS  # a failed snapshot: Redis refuses writes
    if isinstance(error, _DATABASE_DOWN):
        return DATABASE
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return DATABASE
    return None


def describe(error: BaseException) -> str:
    """One line: the error's class and the first line of its message (no parameters)."""
    if isinstance(error, sa_exc.StatementError) and error.orig is not None:
        error = error.orig  # SQLAlchemy's message adds the statement and its parameters
    first_line = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first_line[:200]}"


@dataclass
class _Outage:
    since: float
    last_line: float
    failures: int = 1
    unlogged: int = 0
    last_error: str = ""


class OutageLog:
    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self.clock = clock
        self._down: dict[str, _Outage] = {}
        self._lock = threading.Lock()

    def failed(self, error: BaseException) -> bool:
        """Count ``error`` if it is a dependency's outage (and log as described above);
        False if it is any other error, which the caller logs as it would."""
        name = dependency_of(error)
        if name is None:
            return False
        now = self.clock()
        with self._lock:
            outage = self._down.get(name)
            if outage is None:
                self._down[name] = _Outage(since=now, last_line=now, last_error=describe(error))
                line = f"{name} unavailable: {describe(error)}"
            else:
                outage.failures += 1
                outage.unlogged += 1
                outage.last_error = describe(error)
                if now - outage.last_line < self.interval:
                    return True
                line = (
                    f"{name} still unavailable after {now - outage.since:.0f} s: "
                    f"{outage.unlogged} more failed requests ({outage.last_error})"
                )
                outage.last_line, outage.unlogged = now, 0
        log.error(line)
        return True

    def answered(self, name: str) -> None:
        """``name`` just answered: if it was down, log that it is back."""
        if name not in self._down:  # the common case, without the lock
            return
        with self._lock:
            outage = self._down.pop(name, None)
        if outage is not None:
            log.warning(
                "%s answers again after %.1f s (%d failed requests)",
                name,
                self.clock() - outage.since,
                outage.failures,
            )

    def is_down(self, name: str) -> bool:
        return name in self._down


outages = OutageLog()
