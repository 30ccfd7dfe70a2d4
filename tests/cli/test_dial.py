"""``dial`` (the terminal phone) and ``sessions flush`` (the USSD session log)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway import create_app
from gateway.runtime import runtime
from storage.db import Database
from storage.models import OutboxMessage
from tests.helpers import Phone, count, fails, ok, run

# --- sessions flush --------------------------------------------------------------------------


def test_sessions_flush(runner: Any, phone: Phone) -> None:
    assert ok(run(runner, "sessions", "flush")) == "0 session record(s) written\n"
    phone.dial()
    phone.dial()  # a new session: the first one is logged as dropped
    assert ok(run(runner, "sessions", "flush")) == "1 session record(s) written\n"
    assert ok(run(runner, "sessions", "flush")) == "0 session record(s) written\n"


# --- dial ------------------------------------------------------------------------------------


def _boxed(screen: str) -> str:
    return "\n".join("│ " + line for line in screen.split("\n"))


def test_dial_scripted_prints_the_screens(runner: Any, client: Any) -> None:
    # the screens a phone gets for the same keys, from another (equally new) number
    other = Phone(client, "+6281299990009")
    expected = [other.dial(), other.press("1")]
    assert expected[0].startswith("CON Adminduk Buleleng\n1 ")
    out = ok(run(runner, "dial", "081299990008", "--session", "dial-test", "-k", "1"))
    assert out.startswith("Dialling *123# from +6281299990008 (session dial-test)\n")
    assert _boxed(expected[0]) + f"\n└ {len(expected[0])} chars, HTTP 200\n> 1\n" in out
    assert out.endswith(_boxed(expected[1]) + f"\n└ {len(expected[1])} chars, HTTP 200\n")
    assert out.count("┌") == 2  # the script ended: no prompt, no third screen


def test_dial_stops_at_an_end_screen(runner: Any, db: Database) -> None:
    # priority service → documents → KTP → send the checklist by SMS: the session ends there
    out = ok(
        run(
            runner,
            "dial",
            "+6281299990008",
            *("-k", "4", "-k", "1", "-k", "1", "-k", "1"),
            "-k",
            "5",
        )
    )
    boxes = out.split("┌")[1:]
    assert len(boxes) == 5
    assert boxes[-1].split("\n")[1].startswith("│ END ")
    assert all(box.split("\n")[1].startswith("│ CON ") for box in boxes[:-1])
    assert "> 5" not in out  # the key after the end was never sent
    assert count(db, OutboxMessage) == 1  # the checklist SMS


def test_dial_with_a_webhook_token(app_config: dict[str, Any]) -> None:
    app = create_app({"TESTING": True, **app_config, "WEBHOOK_TOKEN": "s3cret"})
    try:
        out = ok(run(app.test_cli_runner(), "dial", "+6281299990008", "-k", "1"))
    finally:
        runtime(app).db.dispose()
    assert "HTTP 403" not in out
    assert out.count("HTTP 200") == 2


def test_dial_rejects_a_bad_phone(runner: Any) -> None:
    fails(run(runner, "dial", "abc"), "Invalid value for PHONE: 'abc' is not a valid phone number")


def test_dial_again_resumes_a_dropped_session(
    runner: Any, app: Any, backend: str, app_config: dict[str, Any]
) -> None:
    """The README's promise: hang up mid-journey, dial again within 10 minutes, and be offered
    to resume -- also on the embedded default, where each ``dial`` is a process of its own
    (its memory is gone: the call record was kept beside the database)."""
    out = ok(run(runner, "dial", "+6281299990008", "-k", "2", "-k", "1"))  # mid-journey
    assert "Alasannya?" in out
    if backend == "embedded":
        runtime(app).store._data.clear()  # as if this were a new process
        kept = Path(app_config["DATABASE_URL"].removeprefix("sqlite:///")).parent
        assert (kept / "dial-6281299990008.json").exists()
    out = ok(run(runner, "dial", "+6281299990008", "-k", "1"))
    assert "│ CON Lanjutkan yang tadi?\n│ 1 Lanjutkan\n│ 2 Mulai baru" in out
    assert out.rstrip().split("┌")[-1].split("\n")[1] == "│ CON Alasannya?"
