"""The real thing: ``flask --app gateway smpp`` (a process of its own, as the Procfile starts
it) and a real ``rq worker``, PostgreSQL and Redis, against the local SMSC: a broadcast of 500
arrives once each, within the window, with its receipts applied; the SMSC dropping the
connection mid-broadcast loses nothing and duplicates at most the window; a resident's
``JADWAL Tembok`` by deliver_sm is answered by submit_sm through the worker."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from gateway import create_app
from tests.fake_smsc import FakeSmsc
from tests.helpers import REDIS_URL
from tests.live_servers import BIN, ROOT, RQWorkers, stop_process, wait_until, write_config
from tests.workers.smpp.conftest import PASSWORD, SYSTEM_ID
from tests.workers.test_sending import add_residents, plan_broadcast, statuses

WINDOW = 10


@pytest.fixture
def smsc() -> Iterator[FakeSmsc]:
    with FakeSmsc(SYSTEM_ID, PASSWORD, delay=0.005, receipts="after") as server:
        yield server


@pytest.fixture
def settings(
    pg_url: str, smsc: FakeSmsc, redis_client: redis.Redis, tmp_path: Path
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "DATABASE_URL": pg_url,
        "REDIS_URL": REDIS_URL,
        "RQ_QUEUE": f"test-{secrets.token_hex(4)}",
        "SMS_PROVIDER": "smpp",
        "SMPP_HOST": "127.0.0.1",
        "SMPP_PORT": smsc.port,
        "SMPP_SYSTEM_ID": SYSTEM_ID,
        "SMPP_PASSWORD": PASSWORD,
        "SMPP_SOURCE_ADDR": "DUKCAPIL",
        "SMPP_WINDOW": WINDOW,
        "SMPP_ENQUIRE_LINK_SECONDS": 5,
        "SMPP_SUBMIT_TIMEOUT_SECONDS": 10,
        "SMPP_REBIND_MIN_SECONDS": 0.2,
        "SMS_BATCH_SIZE": 200,
        "SMS_MAX_RECIPIENTS_PER_CALL": 100,
        "SMS_QUIET_HOURS": [],
        "SMS_RETRY_INTERVALS": [1, 1, 2],
        "SMS_MAX_ATTEMPTS": 20,
        "SMS_STUCK_AFTER_SECONDS": 30,  # above SMPP_SUBMIT_TIMEOUT_SECONDS + 10
        "SMS_REQUEUE_AFTER_SECONDS": 40,
        "SWEEP_INTERVAL_SECONDS": 1,
    }
    values["_config_path"] = str(write_config(tmp_path / "gateway.toml", values))
    return values


@pytest.fixture
def app_rt(settings: dict[str, Any]) -> Iterator[Any]:
    app = create_app({k: v for k, v in settings.items() if not k.startswith("_")})
    rt = app.extensions["gateway"]
    yield rt
    rt.db.dispose()


@pytest.fixture
def bind_process(settings: dict[str, Any], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["GATEWAY_CONFIG"] = settings["_config_path"]
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    with (tmp_path / "smpp.log").open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "flask"), "--app", "gateway", "smpp"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
        )  # fmt: skip
    yield process
    stop_process(process)


def log_of(tmp_path: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(tmp_path.glob("*.log")))


def test_a_broadcast_of_500_arrives_once_each_within_the_window(
    app_rt: Any,
    smsc: FakeSmsc,
    workers: RQWorkers,
    bind_process: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    phones = add_residents(app_rt.db, 500)
    assert plan_broadcast(app_rt) == 500
    workers.start()
    try:
        wait_until(lambda: statuses(app_rt.db).get("delivered", 0) == 500, 90, "500 delivered")
    except AssertionError:
        raise AssertionError(f"{statuses(app_rt.db)}\n{log_of(tmp_path)[-3000:]}") from None
    accepted = Counter(s.destination for s in smsc.accepted())
    assert sorted(accepted) == sorted(phones)
    assert set(accepted.values()) == {1}
    assert smsc.max_in_flight <= WINDOW
    assert smsc.deliver_resps == [0] * 500  # every receipt answered
    assert len(smsc.binds) == 1


def test_the_smsc_dropping_the_connection_mid_broadcast_loses_nothing(
    app_rt: Any,
    smsc: FakeSmsc,
    workers: RQWorkers,
    bind_process: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    smsc.drop_after = 200
    phones = add_residents(app_rt.db, 500)
    assert plan_broadcast(app_rt) == 500
    workers.start()
    try:
        wait_until(lambda: statuses(app_rt.db).get("delivered", 0) == 500, 90, "500 delivered")
    except AssertionError:
        raise AssertionError(f"{statuses(app_rt.db)}\n{log_of(tmp_path)[-3000:]}") from None
    assert len(smsc.binds) == 2  # bound again after the drop
    arrived = Counter(s.destination for s in smsc.submits)  # the dropped ones may have gone
    assert sorted(arrived) == sorted(phones)  # nobody missed
    twice = sum(n - 1 for n in arrived.values())
    assert 1 <= twice <= WINDOW


def test_jadwal_by_deliver_sm_is_answered_by_submit_sm_through_the_worker(
    app_rt: Any,
    smsc: FakeSmsc,
    workers: RQWorkers,
    bind_process: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    [phone] = add_residents(app_rt.db, 1)
    workers.start()
    wait_until(lambda: smsc.bound_connection is not None, 20, "the bind")
    smsc.deliver(phone, "JADWAL Tembok")
    try:
        wait_until(lambda: len(smsc.texts_to(phone)) == 1, 30, "the reply")
    except AssertionError:
        raise AssertionError(log_of(tmp_path)[-3000:]) from None
    [reply] = smsc.texts_to(phone)
    assert "Tembok" in reply
    assert smsc.deliver_resps[0] == 0
