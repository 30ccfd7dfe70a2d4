"""The service heals itself: Redis or the database going away, connections killed under it,
many threaded callers -- on every kind of server it runs under (gunicorn sync, gunicorn
gthread, ``flask run``), with real HTTP traffic from several client threads.

Everything faulted belongs to the test: a ``redis-server`` child process on its own port, and a
PostgreSQL database of its own whose backends are terminated and whose new connections are
refused for a while. The shared servers are never touched.
"""

from __future__ import annotations

import itertools
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from storage import migrate, queries
from storage.db import Database
from storage.models import HomeVisitBooking, OutboxMessage
from storage.regions import import_regions
from tests.helpers import PG_BASE, TEMBOK
from tests.live_servers import FAILURE_REPLY, SERVER_KINDS, GatewayServer, RedisServer, Reply

pytestmark = pytest.mark.servers  # its own redis-server, database and gateway processes

CALLERS = 80  # phones with a request on file, one per client thread at most
STATUS_PHONE = "+628136{:07d}"
BOOKING_PHONE = "+628137{:07d}"
POOL_SIZE = 5
OUTAGE_SECONDS = 8
RECOVERY_SECONDS = 3  # after the server is back, hops must be normal again within this


# --- the servers the tests own ----------------------------------------------------------------


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is needed (Debian: apt-get install redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def own_database() -> Iterator[str]:
    """A database of this module's own (its connections are refused and killed on purpose)."""
    name = f"gw_faults_{secrets.token_hex(4)}"
    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_BASE.rsplit("/", 1)[0] + f"/{name}"
    db = Database(url)
    migrate.upgrade(db.engine)
    with db.begin() as session:
        import_regions(session)
        for n in range(CALLERS):
            phone = STATUS_PHONE.format(n)
            queries.upsert_resident(session, phone, village_code=TEMBOK, language="id")
            queries.add_request(
                session, doc_type="ktp", phone=phone, birth_year=1950, village_code=TEMBOK
            )
        for n in range(3000):  # returning callers who ask for a home visit
            session.add_all([])
            queries.upsert_resident(
                session, BOOKING_PHONE.format(n), village_code=TEMBOK, language="id"
            )
    db.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        _terminate_backends(connection, name)
        connection.execute(text(f'DROP DATABASE "{name}"'))
    admin.dispose()


def _terminate_backends(connection: Any, database: str) -> int:
    return len(
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": database},
        ).all()
    )


@pytest.fixture(scope="module", params=list(SERVER_KINDS))
def server(
    request: pytest.FixtureRequest,
    own_redis: RedisServer,
    own_database: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayServer]:
    settings = {
        "DATABASE_URL": own_database,
        "REDIS_URL": own_redis.url,
        "SECRET_KEY": "faults",
        "DATABASE_POOL_SIZE": POOL_SIZE,
        "SESSION_LOG_FLUSH_SECONDS": 1,
    }
    gateway = GatewayServer(str(request.param), tmp_path_factory.mktemp("server"), settings)
    yield gateway
    gateway.stop()


# --- traffic ----------------------------------------------------------------------------------

STATUS_JOURNEY = ["1", "1"]  # my documents, the first one
VISIT_JOURNEY = ["3"]  # when does the team come to my village
_NEXT_BOOKER = itertools.count()  # each phone asks once, across all the tests of the module
BOOKING_JOURNEY = ["2", "1", "3", "2", "1", "1"]  # myself, elderly, family card, no hamlet, send


@dataclass
class Traffic:
    """Client threads that play journeys against ``server`` until ``stop()``; every reply is
    kept, and for each home-visit request the phone and its replies."""

    server: GatewayServer
    callers: int
    bookers: int = 0
    replies: list[Reply] = field(default_factory=list)
    bookings: dict[str, list[Reply]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Traffic:
        for n in range(self.callers):
            self._start(self._call_repeatedly, STATUS_PHONE.format(n), n)
        for _ in range(self.bookers):
            self._start(self._book_repeatedly)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _start(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def journey(self, phone: str, keys: list[str]) -> list[Reply]:
        session_id = f"ATUid_{secrets.token_hex(8)}"
        played: list[Reply] = []
        count = 0
        while count <= len(keys):
            reply = self.server.hop(session_id, phone, "*".join(keys[:count]))
            played.append(reply)
            self.replies.append(reply)
            if not reply.body.startswith("CON "):
                break
            if count == 0 and "Lanjutkan" in reply.body:  # the last journey ended on a CON
                keys = ["2", *keys]  # start again
            count += 1
        return played

    def _call_repeatedly(self, phone: str, n: int) -> None:
        for round_ in itertools.count():
            if self._stop.is_set():
                return
            self.journey(phone, VISIT_JOURNEY if (n + round_) % 3 == 0 else STATUS_JOURNEY)

    def _book_repeatedly(self) -> None:
        while not self._stop.is_set():
            phone = BOOKING_PHONE.format(next(_NEXT_BOOKER))
            self.bookings[phone] = self.journey(phone, BOOKING_JOURNEY)
            time.sleep(0.05)

    def between(self, start: float, end: float = float("inf")) -> list[Reply]:
        return [r for r in self.replies if start <= r.sent_at < end]


def _describe(replies: list[Reply]) -> str:
    bad = [r for r in replies if not r.normal][:5]
    return f"{len(replies)} replies; first bad: " + "; ".join(
        f"{r.status} {r.body[:60]!r} in {r.seconds:.2f}s" for r in bad
    )


def _share_normal(replies: list[Reply]) -> float:
    return sum(r.normal for r in replies) / len(replies)


def _wait_for_healthz(server: GatewayServer, status: int, timeout: float = 5.0) -> float:
    """Seconds until /healthz answered ``status`` (each answer within 2 s)."""
    started = time.monotonic()
    while True:
        asked = time.monotonic()
        answer = server.get("/healthz")[0]
        assert time.monotonic() - asked < 2, "/healthz took more than 2 s"
        if answer == status:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"/healthz still {answer}"
        time.sleep(0.1)


# --- the tests --------------------------------------------------------------------------------


def test_a_redis_outage_gets_polite_replies_and_heals_by_itself(
    server: GatewayServer, own_redis: RedisServer
) -> None:
    with Traffic(server, callers=6) as traffic:
        time.sleep(1.5)
        log_start = server.log_size()
        down_at = time.monotonic()
        own_redis.stop()
        _wait_for_healthz(server, 503)
        time.sleep(OUTAGE_SECONDS)
        own_redis.start()
        back_at = time.monotonic()
        _wait_for_healthz(server, 200)
        time.sleep(RECOVERY_SECONDS + 2)
        log_end = server.log_size()
        log_window = time.monotonic() - down_at
    before = [r for r in traffic.replies if r.sent_at + r.seconds < down_at]  # answered by then
    during = traffic.between(down_at, back_at)
    after = traffic.between(back_at + RECOVERY_SECONDS)
    assert before and all(r.normal for r in before), _describe(before)
    assert during, "no traffic during the outage"
    assert all(r.valid for r in during), _describe([r for r in during if not r.valid])
    slow = [r for r in during if r.seconds >= 1]
    assert not slow, f"{len(slow)} replies took 1 s or more during the outage: {_describe(slow)}"
    assert any(r.body == FAILURE_REPLY for r in during)  # it really was down for the server
    assert _share_normal(after) >= 0.99, _describe(after)
    assert not [r for r in traffic.replies if r.status >= 500]
    log = server.log_text(log_start, log_end)
    # (``flask run`` logs every request, outage or not: its access log does not count)
    lines = sum(" INFO werkzeug: " not in line for line in log.splitlines())
    assert lines / log_window < 200, f"{lines} log lines in {log_window:.0f} s:\n{log[-3000:]}"
    assert "Traceback" not in log, log[-3000:]
    assert "redis unavailable" in log and "redis answers again" in log, log[-3000:]


def test_connections_killed_between_hops_change_nothing(
    server: GatewayServer, own_redis: RedisServer
) -> None:
    """The server drops every client connection between two hops, 200 times (what an idle
    timeout, a failover or ``CLIENT KILL`` does): every hop is answered as if nothing had
    happened, and no connection is left behind."""
    callers = 6
    traffic = Traffic(server, callers=0)
    sessions = [f"ATUid_{secrets.token_hex(8)}" for _ in range(callers)]
    turn = threading.Barrier(callers + 1)

    def call(n: int) -> None:
        for round_ in range(200):
            turn.wait()  # the connections were killed
            keys = ["1", "0"] * 100  # my documents, back, my documents...
            traffic.replies.append(
                server.hop(sessions[n], STATUS_PHONE.format(n), "*".join(keys[:round_]))
            )
            turn.wait()  # the hop is answered: kill them again

    threads = [threading.Thread(target=call, args=(n,)) for n in range(callers)]
    for thread in threads:
        thread.start()
    with own_redis.admin() as admin:
        for _ in range(200):
            admin.client_kill_filter(_type="normal", skipme=True)
            turn.wait()
            turn.wait()
        for thread in threads:
            thread.join()
        clients = len(admin.client_list())
    assert len(traffic.replies) == 200 * callers
    assert all(r.normal for r in traffic.replies), _describe(traffic.replies)
    # each process holds at most one connection per request in flight, plus its pool's few
    assert clients <= 3 * 8 + 10, f"{clients} Redis connections after the kills"


def test_connections_killed_under_traffic_heal_at_once(
    server: GatewayServer, own_redis: RedisServer
) -> None:
    """Killed at any moment, also in the middle of a hop: that hop may get the polite END,
    the next ones are normal."""
    with own_redis.admin() as admin, Traffic(server, callers=6) as traffic:
        time.sleep(0.5)
        for _ in range(100):
            admin.client_kill_filter(_type="normal", skipme=True)
            time.sleep(0.03)
        killed_at = time.monotonic()
        time.sleep(1.5)
    assert all(r.valid for r in traffic.replies), _describe(traffic.replies)
    assert _share_normal(traffic.replies) >= 0.99, _describe(traffic.replies)
    after = traffic.between(killed_at + 0.1)
    assert after and all(r.normal for r in after), _describe(after)


def test_a_database_outage_gets_polite_replies_and_loses_no_booking(
    server: GatewayServer, own_database: str
) -> None:
    name = own_database.rsplit("/", 1)[1]
    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection, Traffic(server, callers=4, bookers=2) as traffic:
            time.sleep(1.5)
            down_at = time.monotonic()
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            _terminate_backends(connection, name)
            _wait_for_healthz(server, 503)
            time.sleep(OUTAGE_SECONDS)
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            back_at = time.monotonic()
            _wait_for_healthz(server, 200)
            time.sleep(RECOVERY_SECONDS + 2)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    during = traffic.between(down_at, back_at)
    after = traffic.between(back_at + RECOVERY_SECONDS)
    assert all(r.valid for r in traffic.replies), _describe(traffic.replies)
    assert not [r for r in during if r.seconds >= 1], _describe(during)
    assert any(r.body == FAILURE_REPLY for r in during)
    assert _share_normal(after) >= 0.99, _describe(after)
    _check_bookings(own_database, traffic.bookings)


def _check_bookings(url: str, attempts: dict[str, list[Reply]]) -> None:
    """A caller told "Diterima" has the booking and its confirmation SMS; a caller told the
    service failed has neither."""
    db = Database(url)
    try:
        with db.begin() as session:
            booked = dict(
                session.execute(select(HomeVisitBooking.phone, HomeVisitBooking.number)).all()
            )
            texted = set(session.scalars(select(OutboxMessage.recipient)))
    finally:
        db.dispose()
    confirmed = failed = 0
    for phone, replies in attempts.items():
        last = replies[-1].body
        if last.startswith("END Diterima. Nomor: "):
            confirmed += 1
            number = last.removeprefix("END Diterima. Nomor: ").split(".")[0]
            assert booked.get(phone) == number, f"{phone} was told {number}: not stored"
            assert phone in texted, f"{phone} was told {number}: no confirmation SMS"
        elif last == FAILURE_REPLY:
            failed += 1
            assert phone not in booked, f"{phone} was told it failed, but it was booked"
            assert phone not in texted
    assert confirmed and failed, f"{confirmed} confirmed, {failed} failed: not a real test"


@pytest.mark.parametrize("callers", [64])
def test_many_threaded_callers_get_answers_and_give_connections_back(
    server: GatewayServer, own_database: str, callers: int
) -> None:
    _many_callers(server, callers)
    time.sleep(1.5)  # the session-log flush that follows the last replies is over by then
    for _ in range(12):  # gunicorn: each scrape lands on one of the processes
        assert server.metric("gateway_db_connections_checked_out") == 0
        assert server.metric("gateway_redis_connections_in_use") == 0
        assert server.metric("gateway_db_pool_size") == POOL_SIZE
    name = own_database.rsplit("/", 1)[1]
    admin = create_engine(PG_BASE)
    try:
        with admin.connect() as connection:
            open_connections = connection.execute(
                select(func.count())
                .select_from(text("pg_stat_activity"))
                .where(text("datname = :name")),
                {"name": name},
            ).scalar_one()
    finally:
        admin.dispose()
    processes = 3 if server.kind == "gunicorn-sync" else 2 if "gthread" in server.kind else 1
    assert open_connections <= processes * 2 * POOL_SIZE  # two pools (storage/db.py)


def _many_callers(server: GatewayServer, callers: int, journeys: int = 5) -> None:
    """``callers`` threads, each playing ``journeys`` status look-ups at once: all answered."""
    traffic = Traffic(server, callers=0)
    start = threading.Barrier(callers)
    last_screens: list[str] = []

    def call(n: int) -> None:
        start.wait()
        for _ in range(journeys):
            last_screens.append(traffic.journey(STATUS_PHONE.format(n), STATUS_JOURNEY)[-1].body)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(r.normal for r in traffic.replies), _describe(traffic.replies)
    assert len(last_screens) == callers * journeys
    assert all(screen.startswith("CON KTP-el") for screen in last_screens), last_screens[:3]


def test_the_embedded_default_serves_many_threaded_callers(tmp_path: Path) -> None:
    """``make demo``'s shape: ``flask run`` (a thread per request), SQLite, no Redis."""
    db_path = tmp_path / "gateway.sqlite3"
    db = Database(f"sqlite:///{db_path}")
    migrate.upgrade(db.engine)
    with db.begin() as session:
        import_regions(session)
        for n in range(64):
            phone = STATUS_PHONE.format(n)
            queries.upsert_resident(session, phone, village_code=TEMBOK, language="id")
            queries.add_request(
                session, doc_type="ktp", phone=phone, birth_year=1950, village_code=TEMBOK
            )
    db.dispose()
    settings = {"DATABASE_URL": f"sqlite:///{db_path}", "SECRET_KEY": "faults"}
    server = GatewayServer("flask-run", tmp_path, settings)
    try:
        _many_callers(server, 64)
        assert server.metric("gateway_db_connections_checked_out") == 0
        assert server.get("/healthz")[0] == 200
    finally:
        server.stop()
