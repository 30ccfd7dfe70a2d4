"""The local SMSC (tests/fake_smsc.py) and a bind to it running in a thread of the test."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

from tests.fake_smsc import FakeSmsc
from tests.helpers import REDIS_URL
from workers.providers import DeliveryReport, InboundSms
from workers.providers.smpp import SmppProvider
from workers.smpp.bind import SmppBind, SmppSettings

SYSTEM_ID, PASSWORD = "adminduk", "rahasia1"


def smpp_settings(port: int, **overrides: Any) -> SmppSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "system_id": SYSTEM_ID,
        "password": PASSWORD,
        "source_addr": "DUKCAPIL",
        "window": 10,
        "enquire_link_seconds": 5,
        "submit_timeout": 10,
        "rebind_min": 0.05,
        "rebind_max": 0.5,
        **overrides,
    }
    return SmppSettings(**values)


@dataclass
class RunningBind:
    bind: SmppBind
    thread: threading.Thread
    stop: threading.Event
    receipts: list[tuple[DeliveryReport, str]] = field(default_factory=list)
    inbound: list[InboundSms] = field(default_factory=list)

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(15)
        assert not self.thread.is_alive()


@pytest.fixture
def smsc() -> Iterator[FakeSmsc]:
    with FakeSmsc(SYSTEM_ID, PASSWORD) as server:
        yield server


@pytest.fixture
def provider(redis_client: redis.Redis) -> SmppProvider:
    return SmppProvider(REDIS_URL, timeout=10, rate=0, recipients_per_call=100)


Starter = Callable[..., RunningBind]


@pytest.fixture
def start_bind(redis_client: redis.Redis) -> Iterator[Starter]:
    """Start a bind in a thread: ``start_bind(smsc, window=5, on_receipt=...)``."""
    running: list[RunningBind] = []

    def start(
        smsc: FakeSmsc,
        *,
        on_receipt: Callable[[DeliveryReport], str] | None = None,
        on_inbound: Callable[[InboundSms], str] | None = None,
        wait_bound: bool = True,
        **overrides: Any,
    ) -> RunningBind:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
        stop = threading.Event()
        holder: list[RunningBind] = []

        def receipt(report: DeliveryReport) -> str:
            answer = on_receipt(report) if on_receipt else "pending"
            holder[0].receipts.append((report, answer))
            return answer

        def inbound(message: InboundSms) -> str:
            holder[0].inbound.append(message)
            return on_inbound(message) if on_inbound else "ok"

        bind = SmppBind(smpp_settings(smsc.port, **overrides), client, receipt, inbound)
        thread = threading.Thread(target=bind.run, args=(stop,), daemon=True)
        holder.append(RunningBind(bind, thread, stop))
        thread.start()
        running.append(holder[0])
        if wait_bound:
            assert bind.bound.wait(5), "not bound"
        return holder[0]

    yield start
    for each in running:
        each.halt()
