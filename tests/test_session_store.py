"""The session stores behave the same in memory and on a real Redis; the session log reaches
the database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from gateway.session_store import CallStore, MemoryStore, RedisStore
from storage.models import UssdSessionLog
from tests.helpers import Phone


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.servers)])
def store(request: pytest.FixtureRequest) -> Iterator[CallStore]:
    if request.param == "memory":
        yield MemoryStore(call_ttl=600, profile_ttl=3600)
    else:
        client: redis.Redis = request.getfixturevalue("redis_client")
        yield RedisStore(client, call_ttl=600, profile_ttl=3600)


def test_call_and_profile_round_trip(store: CallStore) -> None:
    assert store.load("+6281200000001") == (None, None)
    store.save("+6281200000001", {"sid": "a", "state": {"screen": "main"}}, [])
    store.save_profile("+6281200000001", {"lang": "en", "village": None})
    assert store.load("+6281200000001") == (
        {"sid": "a", "state": {"screen": "main"}},
        {"lang": "en", "village": None},
    )
    assert store.load("+6281200000002") == (None, None)
    store.forget_profile("+6281200000001")
    assert store.load("+6281200000001")[1] is None


def test_logs_drain_in_order_and_once(store: CallStore) -> None:
    store.save("+6281200000001", {"sid": "a"}, [{"n": i} for i in range(5)])
    store.save("+6281200000001", {"sid": "a"}, [{"n": 5}])
    assert store.drain_logs(4) == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}]
    assert store.drain_logs(4) == [{"n": 4}, {"n": 5}]
    assert store.drain_logs(4) == []


def test_memory_store_expires_calls() -> None:
    now = [0.0]
    store = MemoryStore(call_ttl=600, profile_ttl=3600, clock=lambda: now[0])
    store.save("+6281200000001", {"sid": "a"}, [])
    now[0] = 599
    assert store.load("+6281200000001")[0] == {"sid": "a"}
    now[0] = 601
    assert store.load("+6281200000001")[0] is None


def test_redis_store_sets_ttls(redis_client: redis.Redis) -> None:
    store = RedisStore(redis_client, call_ttl=600, profile_ttl=3600)
    store.save("+6281200000001", {"sid": "a"}, [])
    store.save_profile("+6281200000001", {"lang": "id"})
    assert 595 <= redis_client.ttl("ussd:call:+6281200000001") <= 600
    assert 3595 <= redis_client.ttl("ussd:profile:+6281200000001") <= 3600


def test_sessions_reach_the_log(app: Flask, phone: Phone) -> None:
    phone.dial()
    phone.press("2")
    first = phone.session_id
    phone.dial()  # the first session dropped; this one resumes... or not
    phone.press("2")  # start again
    for key in ("4", "1", "1", "1"):
        phone.press(key)  # checklist sent: END
    rt = app.extensions["gateway"]
    assert rt.session_log.flush(force=True) == 2
    with rt.db.begin() as session:
        rows = {r.session_id: r for r in session.scalars(select(UssdSessionLog))}
    assert set(rows) == {first, phone.session_id}
    dropped, done = rows[first], rows[phone.session_id]
    assert (dropped.phone, dropped.outcome, dropped.journey, dropped.hops) == (
        phone.number,
        "dropped",
        "home_visit",
        2,
    )
    assert (done.outcome, done.journey, done.hops, done.service_code, done.network_code) == (
        "completed",
        "priority",
        6,
        "*123#",
        "51010",
    )
    assert rt.session_log.flush(force=True) == 0


def test_the_profile_cache_spares_the_database(
    app: Flask, phone: Phone, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone.dial()
    phone.press("00")
    rt = app.extensions["gateway"]
    calls = []
    real_begin, real_read = rt.db.begin, rt.db.read
    monkeypatch.setattr(rt.db, "begin", lambda: calls.append("begin") or real_begin())
    monkeypatch.setattr(rt.db, "read", lambda *a: calls.append("read") or real_read(*a))
    phone.dial()  # a returning caller: profile from the session store
    phone.press("2")
    phone.press("1")
    assert calls == []
