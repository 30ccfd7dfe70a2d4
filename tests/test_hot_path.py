"""The USSD hop's fast paths stay correct: the kept Redis and database connections recover from
a dropped socket, and the shared next-visit cache never outlives a change to a visit.

Real Redis and PostgreSQL (and SQLite for the database parts): these paths exist because of
what the real clients cost, so a fake would test nothing.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import create_engine, select, text

from common.local_time import local_today
from gateway import staff_actions
from gateway.caller import next_visit_cache_key
from gateway.runtime import runtime
from gateway.session_store import RedisStore
from storage import hop, queries
from storage.db import Database
from storage.models import Resident, VillageVisit
from tests.helpers import ME, NEIGHBOUR, TEMBOK, Phone

JULAH = "51.08.09.2009"


# --- the kept Redis connection ---------------------------------------------------------------


def test_hop_connection_reconnects_after_the_server_drops_it(redis_client: redis.Redis) -> None:
    store = RedisStore(redis.Redis.from_url(_url(redis_client)), 600, 3600)
    store.save(ME, {"sid": "a"}, [])
    first_id = store.hop.execute(("CLIENT", "ID"))[0]
    redis_client.client_kill_filter(_id=first_id)
    assert store.load(ME) == ({"sid": "a"}, None)  # sent again on a new connection
    assert store.hop.execute(("CLIENT", "ID"))[0] != first_id


def test_hop_connection_raises_a_command_error_and_stays_in_step(redis_client: redis.Redis) -> None:
    store = RedisStore(redis.Redis.from_url(_url(redis_client)), 600, 3600)
    redis_client.set("a-string", "x")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        store.hop.execute(("LPUSH", "a-string", "y"), ("SET", "after", "1"))
    # the second reply was read too: the next command gets its own reply, not a stale one
    assert store.hop.execute(("GET", "a-string"), ("GET", "after")) == [b"x", b"1"]


def test_a_write_sent_now_is_settled_later_and_keeps_the_connection_in_step(
    redis_client: redis.Redis,
) -> None:
    store = RedisStore(redis.Redis.from_url(_url(redis_client)), 600, 3600)
    store.save(ME, {"sid": "a"}, [{"n": 1}], settle_later=True)
    store.settle()
    assert store.load(ME) == ({"sid": "a"}, None)
    store.save(ME, {"sid": "b"}, [], settle_later=True)
    # a command before the settle reads the write's reply first, not instead of its own
    assert store.load(ME) == ({"sid": "b"}, None)
    store.settle()  # nothing left to read
    assert redis_client.llen("ussd:session-log") == 1


def test_a_write_whose_connection_dropped_before_the_settle_is_sent_again(
    redis_client: redis.Redis,
) -> None:
    store = RedisStore(redis.Redis.from_url(_url(redis_client)), 600, 3600)
    store.save(ME, {"sid": "a"}, [], settle_later=True)
    key = f"ussd:call:{ME}"
    for _ in range(200):  # the server has it...
        if redis_client.exists(key):
            break
        time.sleep(0.005)
    redis_client.delete(key)  # ...but say it was lost with the connection, before any reply
    store.hop._local.conn.disconnect()
    store.settle()
    assert store.load(ME) == ({"sid": "a"}, None)  # sent again on a new connection


@pytest.mark.parametrize("backend", ["production"])
def test_a_hop_whose_state_was_not_saved_answers_with_the_failure_reply(
    app: Flask, phone: Phone, redis_client: redis.Redis
) -> None:
    """The webhook sends the state write and confirms it after Flask built the reply: if Redis
    refused it (here: out of memory, which still allows reads), the caller must not see the
    next screen, whose state is lost -- they get the polite END."""
    from gateway.webhooks.ussd import FAILURE_REPLY

    assert phone.dial().startswith("CON ")  # profile cached: the next hop only reads, then saves
    limit = redis_client.config_get("maxmemory")["maxmemory"]
    policy = redis_client.config_get("maxmemory-policy")["maxmemory-policy"]
    redis_client.config_set("maxmemory-policy", "noeviction")
    redis_client.config_set("maxmemory", 1)
    try:
        assert phone.press("3") == FAILURE_REPLY
        assert phone.last_status == 200
    finally:
        redis_client.config_set("maxmemory", limit)
        redis_client.config_set("maxmemory-policy", policy)
    phone.dial()  # the kept connection is still in step: the next hops answer as usual
    language_screen = phone.press("5")
    assert language_screen.startswith("CON ") and "English" in language_screen
    assert phone.post("5") == language_screen  # a repeated callback: the same reply


def _url(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs['db']}"


# --- the kept database reader ----------------------------------------------------------------


def test_reads_see_commits_at_once(db: Database) -> None:
    profile = queries.RESIDENT_PROFILE
    assert db.read(profile, {"phone": ME}) == []
    with db.begin() as session:
        queries.upsert_resident(session, ME, village_code=TEMBOK, language="en")
    assert [tuple(r) for r in db.read(profile, {"phone": ME})] == [("en", TEMBOK)]
    with db.begin() as session:
        queries.upsert_resident(session, ME, language="id")
    assert [tuple(r) for r in db.read(profile, {"phone": ME})] == [("id", TEMBOK)]


def test_the_hop_sets_a_residents_language_and_village_in_one_statement(db: Database) -> None:
    profile = queries.RESIDENT_PROFILE
    hop.update_resident(db, ME, language="en")  # a new caller
    assert hop.resident_profile(db, ME) == ("en", None)
    hop.update_resident(db, ME, village_code=TEMBOK)
    assert hop.resident_profile(db, ME) == ("en", TEMBOK)
    hop.update_resident(db, NEIGHBOUR, village_code=JULAH)
    assert hop.resident_profile(db, NEIGHBOUR) == ("id", JULAH)
    assert db.read(profile, {"phone": ME}) == [("en", TEMBOK)]  # plain tuples on both databases
    with db.begin() as session:
        resident = session.scalars(select(Resident).where(Resident.phone == ME)).one()
        assert (resident.opted_out, resident.created_at is not None) == (False, True)


def test_reader_reconnects_after_the_server_drops_it(pg_schema_url: str) -> None:
    db = Database(pg_schema_url)
    admin = create_engine(pg_schema_url)
    try:
        pid = db.read(select(text("pg_backend_pid()")))[0][0]
        with admin.begin() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        again = db.read(select(text("pg_backend_pid()")))[0][0]  # no error: sent once more
        assert again != pid
    finally:
        db.dispose()
        admin.dispose()


def test_reader_raises_what_is_not_a_lost_connection(db: Database) -> None:
    with pytest.raises(Exception, match="no_such_table"):
        db.read(text("SELECT * FROM no_such_table"))
    assert db.read(queries.RESIDENT_PROFILE, {"phone": ME}) == []  # and still works


# --- watching committed changes --------------------------------------------------------------


def _visit(session: Any, village: str = TEMBOK, days: int = 5) -> VillageVisit:
    return queries.add_visit(
        session,
        village_code=village,
        visit_date=local_today() + dt.timedelta(days=days),
        start_time=dt.time(9),
        end_time=dt.time(13),
        place="Balai Desa",
    )


def test_watch_reports_committed_changes_only(db: Database) -> None:
    seen: list[set[Any]] = []
    db.watch(VillageVisit, key=lambda v: v.village_code, callback=seen.append)
    with db.begin() as session:
        visit_id = _visit(session).id
        _visit(session, JULAH)
    assert seen == [{TEMBOK, JULAH}]
    with pytest.raises(RuntimeError), db.begin() as session:
        session.get(VillageVisit, visit_id).place = "Pura Desa"  # type: ignore[union-attr]
        session.flush()
        raise RuntimeError("rolled back")
    assert seen == [{TEMBOK, JULAH}]  # nothing committed, nothing reported
    with db.begin() as session:
        queries.upsert_resident(session, ME)  # not a visit
    assert seen == [{TEMBOK, JULAH}]


def test_watch_keeps_changes_flushed_before_a_rolled_back_savepoint(db: Database) -> None:
    seen: list[set[Any]] = []
    db.watch(VillageVisit, key=lambda v: v.village_code, callback=seen.append)
    with db.begin() as session:
        _visit(session)
        try:
            with session.begin_nested():
                session.add(Resident(phone=ME, language="id", opted_out=False))
                session.flush()
                raise RuntimeError("savepoint rolled back")
        except RuntimeError:
            pass
    assert seen == [{TEMBOK}]


def test_a_failing_watcher_does_not_fail_the_commit(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_keys: set[Any]) -> None:
        raise redis.ConnectionError("Redis went away")

    db.watch(VillageVisit, key=lambda v: v.village_code, callback=broken)
    with db.begin() as session:
        visit_id = _visit(session).id
    with db.begin() as session:
        assert session.get(VillageVisit, visit_id) is not None
    assert "telling a cache about committed changes failed" in caplog.text


# --- the next-visit cache --------------------------------------------------------------------


@pytest.fixture
def visit_id(db: Database) -> int:
    with db.begin() as session:
        for caller in (ME, NEIGHBOUR):
            queries.upsert_resident(session, caller, village_code=TEMBOK, language="id")
        return _visit(session).id


def _next_visit_screen(phone: Phone, caller: str) -> str:
    """What a resident of Tembok hears after dialling and pressing 3 (a fresh session: each
    caller dials once, so no resume offer comes first)."""
    phone.number = caller
    phone.dial()
    return phone.press("3")


def test_callers_of_a_village_share_one_look_up(
    app: Flask, phone: Phone, visit_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = runtime(app).db
    reads: list[Any] = []
    real_read = db.read
    monkeypatch.setattr(db, "read", lambda *a: reads.append(a[0]) or real_read(*a))
    first = _next_visit_screen(phone, ME)
    assert "Jam 09:00-13:00" in first
    second = _next_visit_screen(phone, NEIGHBOUR)
    assert second == first
    looked_up = [r for r in reads if r is queries.NEXT_VISIT]
    if app.config["REDIS_URL"]:
        assert len(looked_up) == 1  # the second caller was answered from the cache
    else:
        assert len(looked_up) == 2  # the embedded default keeps no shared cache


@pytest.mark.parametrize("change", ["edit", "cancel", "earlier visit", "unpublish"])
def test_a_changed_visit_is_shown_at_once(
    app: Flask, phone: Phone, visit_id: int, change: str
) -> None:
    rt = runtime(app)
    assert "Jam 09:00-13:00" in _next_visit_screen(phone, ME)  # now cached (production)
    with rt.db.begin() as session:
        if change == "edit":
            staff_actions.edit_visit(session, rt.resident_sms, "test", visit_id, start=dt.time(10))
        elif change == "cancel":
            staff_actions.cancel_visit(session, rt.resident_sms, "test", visit_id)
        elif change == "earlier visit":
            queries.add_visit(
                session,
                village_code=TEMBOK,
                visit_date=local_today() + dt.timedelta(days=1),
                start_time=dt.time(8),
                end_time=dt.time(11),
                place="Pura Desa",
            )
        else:
            session.get(VillageVisit, visit_id).published = False  # type: ignore[union-attr]
    screen = _next_visit_screen(phone, NEIGHBOUR)
    expected = {
        "edit": "Jam 10:00-13:00",
        "cancel": "Belum ada jadwal",
        "earlier visit": "Jam 08:00-11:00",
        "unpublish": "Belum ada jadwal",
    }[change]
    assert expected in screen


@pytest.mark.parametrize("backend", ["production"])  # the embedded default keeps no cache
def test_a_cache_entry_from_yesterday_is_not_used(app: Flask, phone: Phone, visit_id: int) -> None:
    rt = runtime(app)
    yesterday = (local_today() - dt.timedelta(days=1)).isoformat()
    rt.store.cache(next_visit_cache_key(TEMBOK), {"day": yesterday, "visit": None}, 600)
    assert "Jam 09:00-13:00" in _next_visit_screen(phone, ME)  # not yesterday's "no visit"
    assert rt.store.cached(next_visit_cache_key(TEMBOK))["day"] == local_today().isoformat()


# --- one sweep for a burst of written messages -----------------------------------------------


def test_a_burst_of_written_messages_asks_for_one_sweep(redis_client: redis.Redis) -> None:
    from common.settings import DEFAULTS
    from workers.queue import RQJobQueue

    jobs = RQJobQueue(redis_client, DEFAULTS)
    for _ in range(5):
        jobs.enqueue_sweep()
    assert jobs.queue.count == 1  # one waiting sweep will see all five
    jobs.sweep_started()  # the job began its scan: what is written now needs another
    jobs.enqueue_sweep()
    assert jobs.queue.count == 2
    assert 0 < redis_client.ttl("outbox:sweep-pending") <= 120  # a lost job cannot block it


# --- Redis unreachable: fail fast, try again soon ----------------------------------------------


@pytest.mark.servers  # a redis-server of its own
def test_while_redis_is_unreachable_hops_fail_at_once_and_one_tries_again(
    tmp_path: Any,
) -> None:
    from gateway.session_store import PROBE_SECONDS, UNREACHABLE_AFTER
    from storage.redis_client import connect_redis
    from tests.live_servers import RedisServer

    server = RedisServer(tmp_path)  # not started yet: its port refuses connections
    store = RedisStore(connect_redis(server.url), 600, 3600)
    for _ in range(UNREACHABLE_AFTER):
        with pytest.raises(redis.ConnectionError, match="connecting to"):
            store.load(ME)
    with pytest.raises(redis.ConnectionError, match="not trying again"):
        store.load(ME)  # no connect attempt: a sync worker is not held up
    time.sleep(PROBE_SECONDS)
    with pytest.raises(redis.ConnectionError, match="connecting to"):
        store.load(ME)  # tried again, still down
    server.start()
    try:
        time.sleep(PROBE_SECONDS)
        assert store.load(ME) == (None, None)  # back: the next try succeeds...
        store.save(ME, {"sid": "a"}, [])
        assert store.load(ME) == ({"sid": "a"}, None)  # ...and so does every hop after it
    finally:
        store.redis.close()
        server.stop()
