"""The log-in throttle slows a guesser, not staff: a user name is locked only for the address
that failed, an address only after many more failures, a user name everywhere only after a
guesser with many addresses; successes use nothing up; every count is taken before the
password is checked, so concurrent tries check exactly the limit."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from gateway import create_app
from gateway.console import auth
from gateway.runtime import runtime
from storage.db import Database
from tests.console.helpers import PASSWORDS, Browser, audit_log, cli, flashes

LOCKED = [("error", "Terlalu banyak gagal masuk. Tunggu 15 menit.")]


@pytest.fixture
def configured(app_config: dict[str, Any]) -> Iterator[Any]:
    """An app with the demo's log-ins and the given settings."""
    built: list[Flask] = []

    def make(**settings: Any) -> Flask:
        app = create_app({"TESTING": True, **app_config, **settings})
        assert cli(app.test_cli_runner(), "demo", "--force").exit_code == 0
        built.append(app)
        return app

    yield make
    for app in built:
        runtime(app).db.dispose()


def test_a_guesser_at_one_address_does_not_lock_the_user_out(configured: Any) -> None:
    """Five wrong passwords for admin from one address: that address is refused for admin, even
    with the right password; admin at another address gets in at once, while the guesser goes
    on hammering."""
    app = configured()
    for _ in range(5):
        assert Browser(app, "10.6.6.6").login("admin", "tebak-tebak").status_code == 401
    attacker = Browser(app, "10.6.6.6")
    response = attacker.login("admin", PASSWORDS["admin"])
    assert response.status_code == 429
    assert flashes(response.get_data(as_text=True)) == LOCKED
    assert attacker.get("/staff/").status_code == 302  # not logged in

    stop = threading.Event()
    tries: list[int] = []

    def hammer() -> None:
        while not stop.is_set() and len(tries) < 200:
            tries.append(Browser(app, "10.6.6.6").login("ADMIN", "tebak-lagi").status_code)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        time.sleep(0.2)
        started = time.monotonic()
        admin = Browser(app, "10.0.1.1")
        assert admin.login("admin").status_code == 302
        assert time.monotonic() - started < 60
        assert admin.get("/staff/").status_code == 200
    finally:
        stop.set()
        thread.join()
    assert tries and set(tries) == {429}
    # the same user, back at the locked address: still refused there
    assert Browser(app, "10.6.6.6").login("admin").status_code == 429


def test_an_office_router_is_not_locked_by_a_few_typos(configured: Any) -> None:
    """Many staff behind one address: failures add up only to the address's higher limit, and
    successful log-ins count for nothing."""
    app = configured(LOGIN_FAILURES_PER_ADDRESS=12)
    for i in range(11):
        name = ("staff", "officer", "admin")[i % 3]
        assert Browser(app, "10.2.2.2").login(name, f"typo-{i}").status_code == 401
        assert Browser(app, "10.2.2.2").login(name).status_code == 302  # then right
    assert Browser(app, "10.2.2.2").login("nobody", "x").status_code == 401  # the 12th failure
    # now the address is refused for every name; other addresses are not
    assert Browser(app, "10.2.2.2").login("staff").status_code == 429
    assert Browser(app, "10.2.2.3").login("staff").status_code == 302


def test_a_success_clears_the_name_and_address_count(configured: Any) -> None:
    app = configured()
    for _ in range(4):
        assert Browser(app, "10.3.3.3").login("officer", "salah-salah").status_code == 401
    assert Browser(app, "10.3.3.3").login("officer").status_code == 302
    for _ in range(4):  # four more typos on another day are fine
        assert Browser(app, "10.3.3.3").login("officer", "salah-salah").status_code == 401
    assert Browser(app, "10.3.3.3").login("officer").status_code == 302


def test_a_guesser_with_many_addresses_is_stopped_too(configured: Any, db: Database) -> None:
    app = configured(LOGIN_FAILURES_PER_USER_ALL=8)
    for i in range(8):
        assert Browser(app, f"10.4.0.{i}").login("admin", "tebak-tebak").status_code == 401
    assert Browser(app, "10.4.1.1").login("admin").status_code == 429
    assert Browser(app, "10.4.1.1").login("staff").status_code == 302  # other names are not
    assert [a for a in audit_log(db) if a[1].startswith("user")] == []


def test_a_direct_caller_cannot_rotate_forwarded_addresses(configured: Any) -> None:
    """X-Forwarded-For is not believed from a caller that is not a configured proxy: forging a
    new address per try does not reset the count."""
    app = configured(TRUSTED_PROXIES=["10.0.0.0/8"])
    for i in range(5):
        browser = Browser(app, "192.0.2.50")
        browser.open_login()
        response = browser.client.post(
            "/staff/login",
            data={"username": "admin", "password": "tebak", "csrf_token": browser.token},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
            environ_base={"REMOTE_ADDR": "192.0.2.50"},
        )
        assert response.status_code == 401
    assert Browser(app, "192.0.2.50").login("admin").status_code == 429
    # through the proxy, the caller named in the header is the address counted
    via_proxy = Browser(app, "10.0.0.5")
    via_proxy.open_login()
    response = via_proxy.client.post(
        "/staff/login",
        data={"username": "admin", "password": PASSWORDS["admin"], "csrf_token": via_proxy.token},
        headers={"X-Forwarded-For": "203.0.113.77"},
        environ_base={"REMOTE_ADDR": "10.0.0.5"},
    )
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("settings", "addresses", "names", "limit"),
    [
        ({}, "one", "one", 5),  # LOGIN_FAILURES_PER_USER
        ({"LOGIN_FAILURES_PER_ADDRESS": 10}, "one", "many", 10),
        ({"LOGIN_FAILURES_PER_USER_ALL": 10}, "many", "one", 10),
    ],
)
def test_concurrent_wrong_tries_check_exactly_the_limit(
    configured: Any,
    monkeypatch: pytest.MonkeyPatch,
    settings: dict[str, int],
    addresses: str,
    names: str,
    limit: int,
) -> None:
    """30 wrong tries at once: the password is checked exactly ``limit`` times (the count is
    taken before the check, atomically), the rest are refused without a check."""
    app = configured(**settings)
    checked = []
    real_check = auth.check_password

    def slow_check(password_hash: str, password: str) -> bool:
        checked.append(password)
        time.sleep(0.05)  # every try is in flight together
        return real_check(password_hash, password)

    monkeypatch.setattr(auth, "check_password", slow_check)
    browsers = [
        Browser(app, f"10.5.0.{i}" if addresses == "many" else "10.5.9.9") for i in range(30)
    ]
    for browser in browsers:
        browser.open_login()
    start = threading.Barrier(30)
    statuses: list[int] = []

    def attempt(i: int) -> None:
        name = f"user{i}" if names == "many" else "admin"
        browser = browsers[i]
        start.wait()
        response = browser.post("/staff/login", {"username": name, "password": f"salah-{i}"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checked) == limit
    assert sorted(statuses) == [401] * limit + [429] * (30 - limit)
