"""Engine and session factory. Callers own transactions: ``with db.begin() as session:``.

Three more things, for the USSD hop, whose budget is a millisecond of CPU:
- ``read(statement, params)``: a Core ``SELECT`` on a connection the calling thread keeps open
  in autocommit. A pool check-out, a transaction and an ORM session cost a hop ~1 ms of CPU
  per look-up; this costs ~0.2 ms (docs/benchmarks.md). Reads only: no transaction is held.
- ``write(work)``: ``work(connection)`` in one short Core transaction on a second kept
  connection; ``write_alone(work)`` the same for a single statement, committed on its own (no
  BEGIN and COMMIT round trips). ``work`` must be idempotent (it checks before it inserts, or
  uses a dedupe key): if the connection turns out to be dead, it runs once more on a new one.
- ``watch(model, key, callback)``: after a commit that added, changed or deleted rows of
  ``model`` through this database's ORM sessions, ``callback`` gets the set of ``key(row)``
  — how caches of those rows are told (the next visit of a village). ``write`` is not
  watched: a hop writes subscriptions, messages, bookings and residents, never visits.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Executable

log = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web process read while a job writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("postgres://"):  # the Procfile/Heroku spelling
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


T = TypeVar("T")
Watcher = tuple[type, Callable[[Any], Hashable], Callable[[set[Any]], None]]


class Database:
    """The one engine of a process and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._local = threading.local()
        self._kept: list[Connection] = []
        self._kept_lock = threading.Lock()
        self._watchers: list[Watcher] = []
        # compiled reads run by the driver itself (see _read_with_driver): PostgreSQL only
        self._driver_sql: dict[Executable, Any] | None = (
            {} if self.engine.dialect.driver == "psycopg" else None
        )

    def begin(self) -> Any:
        """A session inside a transaction: commits on success, rolls back on error."""
        return self.sessions.begin()

    def session(self) -> Session:
        return self.sessions()

    def read(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Sequence[Any]:
        """All rows of a read-only statement, on this thread's kept autocommit connection
        (each with the columns as attributes and by index)."""
        if self._driver_sql is not None:
            return self._on_kept(
                "reader",
                lambda connection: self._read_with_driver(connection, statement, params or {}),
            )
        return self._on_kept(
            "reader", lambda connection: connection.execute(statement, params or {}).all()
        )

    def _read_with_driver(
        self, connection: Connection, statement: Executable, params: Mapping[str, Any]
    ) -> Sequence[Any]:
        """PostgreSQL: the statement compiled once by SQLAlchemy, then run by psycopg itself.
        SQLAlchemy's execution and result layers cost ~130 µs a statement (a look-up is
        ~70 µs without them); for the plain types of these reads psycopg returns the same
        values SQLAlchemy would. Rows are named tuples: ``row.number``, ``row[0]``."""
        cache = self._driver_sql
        assert cache is not None
        compiled = cache.get(statement)
        if compiled is None:
            compiled = cache[statement] = statement.compile(  # type: ignore[attr-defined]
                dialect=self.engine.dialect
            )
        driver = connection.connection.driver_connection
        with driver.cursor(row_factory=namedtuple_row) as cursor:  # type: ignore[union-attr]
            cursor.execute(compiled.string, compiled.construct_params(params))
            return cursor.fetchall()

    def write(self, work: Callable[[Connection], T]) -> T:
        """``work(connection)`` in one transaction on this thread's kept writer connection:
        committed if it returns, rolled back if it raises."""

        def in_transaction(connection: Connection) -> T:
            with connection.begin():
                return work(connection)

        return self._on_kept("writer", in_transaction)

    def write_alone(self, work: Callable[[Connection], T]) -> T:
        """``work(connection)`` on the kept autocommit connection: for one statement, which
        commits as it runs."""
        return self._on_kept("reader", work)

    def write_as_one(self, work: Callable[[Connection], T]) -> T:
        """``work`` that is one statement on PostgreSQL (data-modifying CTEs) and several
        elsewhere: alone on the kept autocommit connection there, in a transaction elsewhere."""
        return (self.write_alone if self.engine.dialect.name == "postgresql" else self.write)(work)

    def _on_kept(self, role: str, work: Callable[[Connection], T]) -> T:
        """``work`` on this thread's kept connection for ``role``. A connection the server
        dropped (restart, idle timeout) is replaced and ``work`` run once more, as the pool's
        pre-ping would have done — which is why the hop's writes are idempotent. Any other
        error is the statement's own: the connection stays."""
        for attempt in (1, 2):
            connection = self._kept_connection(role)
            try:
                return work(connection)
            except DBAPIError as error:  # through SQLAlchemy
                if not error.connection_invalidated or attempt == 2:
                    raise
            except psycopg.OperationalError:  # from psycopg itself (_read_with_driver)
                driver = connection.connection.driver_connection
                if not driver.broken or attempt == 2:  # type: ignore[union-attr]
                    raise
                connection.invalidate()
            self._drop(role, connection)
        raise AssertionError("unreachable")

    def _kept_connection(self, role: str) -> Connection:
        connection: Connection | None = getattr(self._local, role, None)
        if connection is None or getattr(self._local, role + "_pid", None) != os.getpid():
            connection = self.engine.connect()  # (after a fork the old socket is the parent's)
            if role == "reader":
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            setattr(self._local, role, connection)
            setattr(self._local, role + "_pid", os.getpid())
            with self._kept_lock:
                self._kept.append(connection)
        return connection

    def _drop(self, role: str, connection: Connection) -> None:
        setattr(self._local, role, None)
        with self._kept_lock:
            if connection in self._kept:
                self._kept.remove(connection)
        try:
            connection.close()
        except Exception:  # already broken: nothing to give back
            log.debug("closing a broken kept connection failed", exc_info=True)

    def watch(
        self, model: type, key: Callable[[Any], Hashable], callback: Callable[[set[Any]], None]
    ) -> None:
        if not self._watchers:
            event.listen(self.sessions, "after_flush", self._collect_changes)
            event.listen(self.sessions, "after_commit", self._report_changes)
            event.listen(self.sessions, "after_transaction_end", self._forget_changes)
        self._watchers.append((model, key, callback))

    def _collect_changes(self, session: Session, _context: Any) -> None:
        changed: dict[int, set[Any]] = session.info.setdefault("watched_changes", {})
        for instance in (*session.new, *session.dirty, *session.deleted):
            for index, (model, key, _) in enumerate(self._watchers):
                if isinstance(instance, model):
                    changed.setdefault(index, set()).add(key(instance))

    def _report_changes(self, session: Session) -> None:
        changed: dict[int, set[Any]] = session.info.pop("watched_changes", {})
        for index, keys in changed.items():
            try:
                self._watchers[index][2](keys)
            except Exception:  # the commit happened: a failed cache update must not undo it
                log.exception("telling a cache about committed changes failed")

    def _forget_changes(self, session: Session, transaction: Any) -> None:
        # Only when the outermost transaction ends (committed changes were reported just
        # before): a savepoint rolled back inside it keeps what was flushed before it.
        if transaction.parent is None:
            session.info.pop("watched_changes", None)

    def dispose(self) -> None:
        with self._kept_lock:
            kept, self._kept = self._kept, []
        for connection in kept:
            try:
                connection.close()
            except Exception:
                log.debug("closing a reader connection failed", exc_info=True)
        self._local = threading.local()
        self.engine.dispose()


def wrote_one(result: Any) -> bool:
    """Whether an INSERT … ON CONFLICT DO NOTHING (or an upsert) wrote its row."""
    assert isinstance(result, CursorResult)
    return result.rowcount == 1
