"""Failover with a real bind: SMPP (a bind on the local SMSC) first, the office Android phone
(the fake SMS Gateway for Android, through its client) second. The bind goes down → the phone
takes the queue at once → the bind is back → SMPP takes it again; each outbox row records who
sent it, and /healthz and /metrics say so."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from gateway.runtime import runtime
from storage import outbox
from storage.db import Database
from storage.models import OutboxMessage
from tests.fake_android_gateway import FakeAndroidGateway
from tests.fake_smsc import FakeSmsc
from tests.helpers import REDIS_URL
from tests.sms.helpers import daytime
from tests.workers.smpp.conftest import PASSWORD, SYSTEM_ID, Starter
from tests.workers.smpp.test_outbox import wait_for
from workers.providers.android import AndroidProvider
from workers.providers.smpp import SmppProvider
from workers.routing import ProviderHealth, RoutingProvider, parse_routes
from workers.sender import OutboxSender
from workers.smpp import handoff

PHONES = [f"+6281377700{i:03d}" for i in range(6)]


@pytest.fixture
def phone_gw() -> Iterator[FakeAndroidGateway]:
    with FakeAndroidGateway() as fake:
        yield fake


def owe(db: Database, tag: str, phones: list[str]) -> list[int]:
    with db.begin() as session:
        for phone in phones:
            outbox.add(
                session,
                recipient=phone,
                kind="notification",
                body="Dokumen Anda siap diambil.",
                dedupe_key=f"route:{tag}:{phone}",
            )
        return list(
            session.scalars(
                select(OutboxMessage.id)
                .where(OutboxMessage.dedupe_key.like(f"route:{tag}:%"))
                .order_by(OutboxMessage.id)
            )
        )


def providers_of(db: Database, ids: list[int]) -> list[tuple[str, str | None]]:
    with db.begin() as session:
        return [
            (m.status, m.provider)
            for m in session.scalars(
                select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
            )
        ]


def test_smpp_down_the_phone_takes_the_queue_then_smpp_again(
    app: Flask,
    db: Database,
    redis_client: redis.Redis,
    start_bind: Starter,
    phone_gw: FakeAndroidGateway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    health = ProviderHealth(redis_client, failover_after=60, probe_every=30)
    router = RoutingProvider(
        parse_routes([{"prefix": "+62", "providers": ["smpp", "android"]}]),
        {
            "smpp": SmppProvider(REDIS_URL, timeout=5, rate=0, recipients_per_call=100),
            "android": AndroidProvider(
                base_url=phone_gw.url,
                username=phone_gw.username,
                password=phone_gw.password,
                rate_per_minute=0,
                timeout=(1, 1),
            ),
        },
        health,
    )
    sender: OutboxSender = runtime(app).worker.sender
    monkeypatch.setattr(sender, "provider", router)
    monkeypatch.setattr(sender, "clock", daytime)
    rt = runtime(app)
    monkeypatch.setattr(rt, "sms_provider", router)
    client = app.test_client()

    with FakeSmsc(SYSTEM_ID, PASSWORD) as smsc:
        running = start_bind(smsc)
        wait_for(lambda: handoff.is_bound(redis_client))
        first = owe(db, "a", PHONES[:2])
        assert sender.send_batch(first).sent == 2
        assert providers_of(db, first) == [("sent", "smpp")] * 2
        assert len(smsc.accepted()) == 2

        # The bind process stops (its key goes with it): the phone takes the next messages
        # at once, without waiting for the hand-off's deadline.
        running.halt()
        assert not handoff.is_bound(redis_client)
        second = owe(db, "b", PHONES[2:4])
        started = time.monotonic()
        assert sender.send_batch(second).sent == 2
        assert time.monotonic() - started < 3
        assert providers_of(db, second) == [("sent", "android")] * 2
        assert [a.phone for a in phone_gw.accepted] == PHONES[2:4]

        health_page = client.get("/healthz")
        assert health_page.status_code == 200  # the phone still reaches +62
        assert "sms provider smpp: no SMPP bind" in health_page.get_data(as_text=True)
        metrics = client.get("/metrics").get_data(as_text=True)
        assert 'gateway_outbox_messages_by_provider{provider="android",status="sent"} 2.0' in (
            metrics
        )
        assert 'gateway_outbox_messages_by_provider{provider="smpp",status="sent"} 2.0' in metrics
        assert 'gateway_sms_provider_up{provider="smpp"} 0.0' in metrics
        assert 'gateway_sms_provider_up{provider="android"} 1.0' in metrics

        # Those sent are delivered: the gauge of 'sent' follows them down to 0.
        with db.begin() as session:
            for row in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(first))):
                row.status = "delivered"
        metrics = client.get("/metrics").get_data(as_text=True)
        assert 'gateway_outbox_messages_by_provider{provider="smpp",status="sent"} 0.0' in metrics
        assert (
            'gateway_outbox_messages_by_provider{provider="smpp",status="delivered"} 2.0' in metrics
        )

        # The bind is back: SMPP takes the queue again.
        start_bind(smsc)
        wait_for(lambda: handoff.is_bound(redis_client))
        third = owe(db, "c", PHONES[4:])
        assert sender.send_batch(third).sent == 2
        assert providers_of(db, third) == [("sent", "smpp")] * 2
        assert len(smsc.accepted()) == 4
        assert len(phone_gw.accepted) == 2
        assert client.get("/healthz").get_data(as_text=True) == "ok\n"


def test_every_route_down_makes_healthz_a_503(
    app: Flask, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    health = ProviderHealth(redis_client, failover_after=60, probe_every=30)
    router = RoutingProvider(
        parse_routes([{"prefix": "+62", "providers": ["smpp"]}]),
        {"smpp": SmppProvider(REDIS_URL, timeout=5, rate=0, recipients_per_call=100)},
        health,
    )
    monkeypatch.setattr(runtime(app), "sms_provider", router)
    page = app.test_client().get("/healthz")
    assert page.status_code == 503
    assert page.get_data(as_text=True) == (
        "sms provider smpp: no SMPP bind; no SMS can leave for +62\n"
    )
