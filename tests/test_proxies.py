"""TRUSTED_PROXIES: X-Forwarded-For and X-Forwarded-Proto are believed only from a configured
proxy address (or a unix-socket peer, when "unix" is listed), read from the right while the
hops are trusted; the old count is refused at start-up with one line."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request

from gateway import create_app
from gateway.proxies import TrustedProxies, caller, parse_trusted_proxies
from gateway.runtime import runtime
from tests.ussd.helpers import GOOD

BIN = Path(sys.executable).parent  # the venv's: gunicorn


def trusted(*entries: str) -> TrustedProxies:
    return parse_trusted_proxies(list(entries))


def test_the_caller_is_the_first_untrusted_hop_from_the_right() -> None:
    lan = trusted("127.0.0.1/32", "10.0.0.0/8")
    cases = [
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.9"], "203.0.113.9"),
        ("127.0.0.1", ["203.0.113.9", "10.1.1.1"], "203.0.113.9"),
        ("127.0.0.1", ["10.9.9.9", "203.0.113.9", "10.1.1.1"], "203.0.113.9"),  # forged left
        ("127.0.0.1", ["10.2.2.2", "10.1.1.1"], "10.2.2.2"),  # all trusted: the leftmost
        ("192.0.2.50", ["10.9.1.2"], "192.0.2.50"),  # not from a proxy: its own address
        ("127.0.0.1", ["not-an-address"], ""),
        ("127.0.0.1", ["203.0.113.9:5555"], "203.0.113.9"),
        ("127.0.0.1", ["[2001:db8::7]:443"], "2001:db8::7"),
        ("", ["203.0.113.9"], ""),  # a unix-socket peer, "unix" not listed
    ]
    for peer, forwarded, expected in cases:
        assert caller(peer, forwarded, lan) == expected, (peer, forwarded)
    unix = trusted("unix")
    assert caller("", ["203.0.113.9"], unix) == "203.0.113.9"
    assert caller("unix:/tmp/x.sock", ["203.0.113.9"], unix) == "203.0.113.9"
    assert caller("127.0.0.1", ["203.0.113.9"], unix) == "127.0.0.1"


def test_the_setting_is_checked_at_start_up(tmp_path: Path) -> None:
    assert not parse_trusted_proxies(0)  # the old default: nobody's headers, as before
    assert not parse_trusted_proxies([])
    for bad, message in [
        (1, "TRUSTED_PROXIES = 1 (a count of proxies) is no longer accepted"),
        (2, "TRUSTED_PROXIES = 2 (a count of proxies) is no longer accepted"),
        (True, "TRUSTED_PROXIES must be a list"),
        ("10.0.0.0/8", "TRUSTED_PROXIES must be a list"),
        (["10.0.0.0/33"], "TRUSTED_PROXIES: '10.0.0.0/33' is not an address"),
    ]:
        with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
            parse_trusted_proxies(bad)
        with pytest.raises(ValueError) as raised:
            create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3", "TRUSTED_PROXIES": bad})
        assert "\n" not in str(raised.value)


@pytest.fixture
def echo(app_config: dict[str, Any]) -> Iterator[Any]:
    """An app built with the given proxies, with a route that says what it sees."""
    built: list[Flask] = []

    def make(**settings: Any) -> Any:
        app = create_app({"TESTING": True, **app_config, **settings})

        @app.get("/_seen")
        def seen() -> str:
            forwarded = request.headers.get("X-Forwarded-For", "-")
            return f"{request.remote_addr} {request.scheme} {forwarded}"

        built.append(app)
        return app.test_client()

    yield make
    for app in built:
        runtime(app).db.dispose()


def test_headers_are_believed_only_from_a_listed_proxy(echo: Any) -> None:
    client = echo(TRUSTED_PROXIES=["10.0.0.0/8"])
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}

    def seen(peer: str) -> str:
        return client.get("/_seen", headers=headers, environ_base={"REMOTE_ADDR": peer}).text

    assert seen("10.0.0.5") == "203.0.113.9 https 203.0.113.9"
    # straight to the app's port: its own address, and the headers gone
    assert seen("192.0.2.50") == "192.0.2.50 http -"
    assert seen("127.0.0.1") == "127.0.0.1 http -"
    nobody = echo()  # the default: no proxy is believed
    assert (
        nobody.get("/_seen", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.5"}).text
        == "10.0.0.5 http -"
    )


def test_the_webhook_allow_list_sees_the_real_caller(echo: Any) -> None:
    client = echo(TRUSTED_PROXIES=["10.0.0.0/8"], WEBHOOK_ALLOWED_IPS=["196.201.214.0/24"])

    def hop(peer: str, forwarded: str) -> int:
        return client.post(
            "/ussd",
            data=GOOD,
            headers={"X-Forwarded-For": forwarded},
            environ_base={"REMOTE_ADDR": peer},
        ).status_code

    assert hop("10.0.0.5", "196.201.214.20") == 200  # through the proxy
    assert hop("192.0.2.50", "196.201.214.20") == 403  # the app's port reached directly
    assert hop("10.0.0.5", "196.201.214.20, 192.0.2.50") == 403  # a forged earlier hop


# --- the production shape: gunicorn on a unix socket ---------------------------------------


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(str(self.path))


def post_hop(sock: Path, forwarded: str) -> tuple[int, str]:
    connection = UnixConnection(sock)
    body = "&".join(f"{k}={v}" for k, v in GOOD.items()).replace("+", "%2B")
    connection.request(
        "POST",
        "/ussd",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Forwarded-For": forwarded,
        },
    )
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()
    return response.status, text


@pytest.mark.servers
def test_gunicorn_on_a_unix_socket_with_unix_trusted(tmp_path: Path, sqlite_template: Path) -> None:
    """The documented production example: TRUSTED_PROXIES = ["unix"]. gunicorn reports no
    peer address for a unix socket; the caller is the one nginx names."""
    database = tmp_path / "gateway.sqlite3"
    shutil.copy(sqlite_template, database)
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'DATABASE_URL = "sqlite:///{database}"\n'
        "RUN_JOBS_IN_PROCESS = false\n"
        'SECRET_KEY = "test"\n'
        'TRUSTED_PROXIES = ["unix"]\n'
        'WEBHOOK_ALLOWED_IPS = ["196.201.214.0/24"]\n'
    )
    sock = tmp_path / "gunicorn.sock"
    log = (tmp_path / "gunicorn.log").open("wb")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["GATEWAY_CONFIG"] = str(config)
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "--workers", "1", "--bind", f"unix:{sock}", "gateway:create_app()"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).parents[1],
    )
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            running = process.poll() is None and time.monotonic() < deadline
            assert running, (tmp_path / "gunicorn.log").read_text()
            time.sleep(0.1)
        status, reply = post_hop(sock, "196.201.214.20")
        assert (status, reply.split("\n")[0]) == (200, "CON Adminduk Buleleng")
        assert post_hop(sock, "198.51.100.1")[0] == 403
        assert post_hop(sock, "196.201.214.20, 198.51.100.1")[0] == 403
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
