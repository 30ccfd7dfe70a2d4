"""``callbacks list`` and ``callbacks mark``: the console's call-back queue for operators."""

from __future__ import annotations

from typing import Any

from storage.db import Database
from tests.helpers import ME, Phone, fails, ok, run


def test_list_and_mark_call_back_requests(runner: Any, client: Any, db: Database) -> None:
    phone = Phone(client, ME)
    phone.dial()
    for key in ("6", "1", "2"):
        phone.press(key)
    out = ok(run(runner, "callbacks", "list"))
    assert "open" in out and ME in out and "home_visit" in out and "ussd" in out
    request_id = out.split()[0]
    out = ok(run(runner, "callbacks", "mark", request_id, "not_reached", "--actor", "ketut"))
    assert out == f"call-back request {request_id}: not_reached\n"
    assert "not_reached" in ok(run(runner, "callbacks", "list"))
    ok(run(runner, "callbacks", "mark", request_id, "called", "--actor", "ketut"))
    assert ME not in ok(run(runner, "callbacks", "list"))
    assert ME in ok(run(runner, "callbacks", "list", "--status", "called"))
    fails(run(runner, "callbacks", "mark", request_id, "called"), "already marked called")
    fails(run(runner, "callbacks", "mark", "999", "called"), "no call-back request 999")
