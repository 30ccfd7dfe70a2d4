"""Engine and session factory. Callers own transactions: ``with db.begin() as session:``.

Two engines per process, whose pools own every connection: each use checks one out and gives
it back when done, so no connection outlives its request or thread (``flask run`` and
gunicorn's gthread workers start threads freely). ``engine`` serves transactions (ORM sessions,
``write``); ``autocommit`` the hop's single statements. Its connections stay in autocommit, so
a check-out switches no isolation level and a check-in rolls nothing back: borrowing the first
engine's connections in autocommit would cost each look-up more than the pool itself
(docs/benchmarks.md). A connection is checked at check-out by a poll of its socket, which costs
no round trip: a server that restarted or terminated the backend has already closed the socket
or sent its goodbye, so a dead connection is replaced before use.

For the USSD hop, whose CPU budget is small (storage/hop.py uses these; nothing above storage/
needs to):
- ``read(statement, params, make)``: a Core ``SELECT`` in autocommit (no BEGIN/COMMIT round
  trips, no ORM session); each row ``make(*columns)``, or a plain tuple, on PostgreSQL and
  SQLite alike. PostgreSQL's are run by psycopg itself (``_read_with_driver``).
- ``write(work)``: ``work(connection)`` in one short Core transaction; ``write_alone(work)``
  the same for a single statement, committed on its own; ``write_as_one(work)`` is
  ``write_alone`` on PostgreSQL (``one_statement_writes``: ``work`` is one statement of
  data-modifying CTEs there) and ``write`` on SQLite. ``work`` must be idempotent (a dedupe
  key, ``ON CONFLICT``): if the connection dies under it, it runs once more on a new one.
- ``watch(model, key, callback)``: after a commit that added, changed or deleted rows of
  ``model`` through this database's ORM sessions, ``callback`` gets the set of ``key(row)``
  — how caches of those rows are told (the next visit of a village). ``write`` is not
  watched: a hop writes subscriptions, messages, bookings and residents, never visits.
"""

from __future__ import annotations

import logging
import select
from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar, overload

import psycopg
from psycopg.rows import args_row, tuple_row
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Executable

from common.settings import DEFAULTS
from storage.outages import DATABASE, outages

log = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web process read while a job writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _refuse_closed_socket(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """At check-out: a PostgreSQL connection whose socket has something to read while no
    statement runs was closed or is being closed by the server (restart, terminated backend:
    the server sends its FATAL message, then closes). Raising DisconnectionError makes the
    pool discard it and check out another -- SQLAlchemy's documented pessimistic disconnect
    handling, here without pre-ping's round trip."""
    pgconn = dbapi_connection.pgconn
    if pgconn.status != 0:  # libpq: not CONNECTION_OK
        raise DisconnectionError("connection is not open")
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        raise DisconnectionError("the server closed the connection")


def make_engine(
    url: str, settings: Mapping[str, Any] | None = None, autocommit: bool = False
) -> Engine:
    values = {**DEFAULTS, **(settings or {})}
    # An error's log line names the statement, never its values (phone numbers, texts).
    hidden: dict[str, Any] = {"hide_parameters": True}
    pool: dict[str, Any] = {
        "pool_size": int(values["DATABASE_POOL_SIZE"]),
        "max_overflow": int(values["DATABASE_MAX_OVERFLOW"]),
        "pool_timeout": float(values["DATABASE_POOL_TIMEOUT_SECONDS"]),
    }
    if autocommit:  # nothing to roll back when a connection is given back
        pool.update(isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
    if url.startswith("postgres://"):  # the Procfile/Heroku spelling
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        in_memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(url, **hidden, **({} if in_memory else pool))
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(
        url,
        connect_args={"connect_timeout": int(values["DATABASE_CONNECT_TIMEOUT_SECONDS"])},
        **hidden,
        **pool,
    )
    if engine.dialect.driver == "psycopg":
        event.listen(engine, "checkout", _refuse_closed_socket)
    return engine


T = TypeVar("T")
R = TypeVar("R")
Watcher = tuple[type, Callable[[Any], Hashable], Callable[[set[Any]], None]]


class Database:
    """The one engine of a process and its session factory."""

    def __init__(self, url: str, settings: Mapping[str, Any] | None = None) -> None:
        self.url = url
        self.engine = make_engine(url, settings)
        self.autocommit = make_engine(url, settings, autocommit=True)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._watchers: list[Watcher] = []
        # PostgreSQL runs a hop's several writes as one statement (statements.*_WITH_*)
        self.one_statement_writes = self.engine.dialect.name == "postgresql"
        # compiled reads run by the driver itself (see _read_with_driver): PostgreSQL only
        self._driver_sql: dict[Executable, Any] | None = (
            {} if self.engine.dialect.driver == "psycopg" else None
        )

    def begin(self) -> Any:
        """A session inside a transaction: commits on success, rolls back on error."""
        return self.sessions.begin()

    def session(self) -> Session:
        return self.sessions()

    @overload
    def read(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]: ...
    @overload
    def read(
        self, statement: Executable, params: Mapping[str, Any] | None, make: Callable[..., R]
    ) -> list[R]: ...
    def read(
        self,
        statement: Executable,
        params: Mapping[str, Any] | None = None,
        make: Callable[..., Any] | None = None,
    ) -> list[Any]:
        """All rows of a read-only statement, in autocommit: each ``make(*columns)``, or a
        plain tuple -- the same on PostgreSQL and SQLite."""
        if self._driver_sql is not None:
            return self._on_connection(
                self.autocommit,
                lambda connection: self._read_with_driver(
                    connection, statement, params or {}, make
                ),
            )

        def with_sqlalchemy(connection: Connection) -> list[Any]:
            rows = connection.execute(statement, params or {})
            return [make(*row) for row in rows] if make else [tuple(row) for row in rows]

        return self._on_connection(self.autocommit, with_sqlalchemy)

    def _read_with_driver(
        self,
        connection: Connection,
        statement: Executable,
        params: Mapping[str, Any],
        make: Callable[..., Any] | None,
    ) -> list[Any]:
        """PostgreSQL: the statement compiled once by SQLAlchemy, then run by psycopg itself
        (SQLAlchemy's execution and result layers cost more than the look-up). For the plain
        types of these reads psycopg returns the values SQLAlchemy would."""
        cache = self._driver_sql
        assert cache is not None
        compiled = cache.get(statement)
        if compiled is None:
            compiled = cache[statement] = statement.compile(  # type: ignore[attr-defined]
                dialect=self.engine.dialect
            )
        driver = connection.connection.driver_connection
        rows = args_row(make) if make else tuple_row
        with driver.cursor(row_factory=rows) as cursor:  # type: ignore[union-attr]
            cursor.execute(compiled.string, compiled.construct_params(params))
            return cursor.fetchall()

    def write(self, work: Callable[[Connection], T]) -> T:
        """``work(connection)`` in one transaction: committed if it returns, rolled back if it
        raises."""

        def in_transaction(connection: Connection) -> T:
            with connection.begin():
                return work(connection)

        return self._on_connection(self.engine, in_transaction)

    def write_alone(self, work: Callable[[Connection], T]) -> T:
        """``work(connection)`` in autocommit: for one statement, which commits as it runs."""
        return self._on_connection(self.autocommit, work)

    def write_as_one(self, work: Callable[[Connection], T]) -> T:
        """``work`` that is one statement on PostgreSQL (data-modifying CTEs) and several
        elsewhere: alone in autocommit there, in a transaction elsewhere."""
        return (self.write_alone if self.one_statement_writes else self.write)(work)

    def _on_connection(self, engine: Engine, work: Callable[[Connection], T]) -> T:
        """``work`` on a connection checked out for it and given back after. A connection
        the server dropped under it (restart, terminated backend) is replaced and ``work``
        run once more -- which is why the hop's writes are idempotent. Any other error is
        the statement's own."""
        for attempt in (1, 2):
            try:
                with engine.connect() as connection:
                    try:
                        result = work(connection)
                    except psycopg.OperationalError:  # from psycopg itself (_read_with_driver)
                        driver: Any = connection.connection.driver_connection
                        if attempt == 2 or not (driver is None or driver.broken):
                            raise
                        connection.invalidate()  # closed, not given back to the pool
                        continue
            except DBAPIError as error:  # through SQLAlchemy, which invalidated the pool
                if attempt == 2 or not error.connection_invalidated:
                    raise
                continue
            outages.answered(DATABASE)
            return result
        raise AssertionError("unreachable")

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
        self.engine.dispose()
        self.autocommit.dispose()

    def connections_checked_out(self) -> int:
        return sum(e.pool.checkedout() for e in (self.engine, self.autocommit))  # type: ignore[attr-defined]


def wrote_one(result: Any) -> bool:
    """Whether an INSERT … ON CONFLICT DO NOTHING (or an upsert) wrote its row."""
    assert isinstance(result, CursorResult)
    return result.rowcount == 1
