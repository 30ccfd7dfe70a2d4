"""The phone simulator: who may use it (open on the embedded default, behind the console's
log-in in production), dialling and texting the same service as the webhooks, its inbox."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from gateway import create_app
from gateway.runtime import runtime
from storage.db import Database
from storage.models import OutboxMessage
from tests.console.helpers import GRANNY, Browser, cli, logged_in, outbox_rows
from tests.helpers import Phone, count


@pytest.fixture
def configured(app_config: dict[str, Any]) -> Iterator[Any]:
    """Build the app with extra settings (the SIMULATOR_PUBLIC switch)."""
    built: list[Flask] = []

    def make(**settings: Any) -> Flask:
        built.append(create_app({"TESTING": True, **app_config, **settings}))
        return built[-1]

    yield make
    for one in built:
        runtime(one).db.dispose()


TEST_NUMBERS = ["+6281200000001", "+6281200000002", "+6281200000003"]


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The office's test SIMs: outside the embedded default the simulator plays only these."""
    return {**app_config, "SIMULATOR_NUMBERS": TEST_NUMBERS}


def _sim_token(browser: Browser) -> str:
    page = browser.get("/simulator")
    assert page.status_code == 200
    found = re.search(r'data-csrf="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize("public", [None, True, False])
def test_who_may_use_the_simulator(configured: Any, backend: str, public: bool | None) -> None:
    app = configured() if public is None else configured(SIMULATOR_PUBLIC=public)
    assert cli(app.test_cli_runner(), "demo", "--force").exit_code == 0
    open_to_all = public if public is not None else backend == "embedded"
    anonymous = Browser(app)
    anonymous.open_login()  # a session with a CSRF token, not logged in
    page = anonymous.get("/simulator")
    dial = anonymous.client.post(
        "/simulator/dial",
        json={"phone": GRANNY, "text": ""},
        headers={"X-CSRFToken": anonymous.token},
    )
    texted = anonymous.client.post(
        "/simulator/sms",
        json={"phone": GRANNY, "text": "HELP"},
        headers={"X-CSRFToken": anonymous.token},
    )
    inbox = anonymous.get(f"/simulator/inbox?phone=%2B{GRANNY[1:]}")
    got = [(r.status_code, r.headers.get("Location")) for r in (page, dial, texted, inbox)]
    if open_to_all:
        assert got == [(200, None)] * 4
        assert count(runtime(app).db, OutboxMessage) == 1  # the HELP reply
    else:
        assert got == [
            (302, "/staff/login?next=%2Fsimulator"),
            (302, "/staff/login?next=%2Fsimulator%2Fdial"),
            (302, "/staff/login?next=%2Fsimulator%2Fsms"),
            (302, f"/staff/login?next=%2Fsimulator%2Finbox%3Fphone%3D%252B{GRANNY[1:]}"),
        ]
        assert count(runtime(app).db, OutboxMessage) == 0
    # without the page's token nobody may post, open or not
    assert (
        anonymous.client.post("/simulator/dial", json={"phone": GRANNY, "text": ""}).status_code
        == 400
    )
    # a village officer may not act as the test phones in production
    officer = logged_in(app, "officer")
    assert officer.get("/simulator").status_code == (200 if open_to_all else 403)
    staff = logged_in(app, "staff")
    assert staff.get("/simulator").status_code == 200


def _dial(
    browser: Browser, token: str, phone: str, text: str, session: str | None = None
) -> dict[str, Any]:
    response = browser.client.post(
        "/simulator/dial",
        json={"phone": phone, "text": text, **({"session": session} if session else {})},
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    result: dict[str, Any] = response.get_json()
    return result


def test_the_simulator_dials_the_same_service_as_ussd(staff: Browser, phone: Phone) -> None:
    token = _sim_token(staff)
    first = _dial(staff, token, "0812-0000-0003", "")  # a test number: allowed everywhere
    assert first["reply"] == phone.dial()
    assert first["reply"].startswith("CON Adminduk Buleleng\n1 ")
    second = _dial(staff, token, "+6281200000003", "3", first["session"])
    assert second == {"session": first["session"], "reply": phone.press("3")}
    assert (
        staff.client.post("/simulator/dial", json={"phone": GRANNY, "text": ""}).status_code == 400
    )  # no token
    bad = staff.client.post(
        "/simulator/dial", json={"phone": "12", "text": ""}, headers={"X-CSRFToken": token}
    )
    assert bad.status_code == 400


def test_the_simulator_texts_and_shows_the_inbox(staff: Browser, db: Database) -> None:
    token = _sim_token(staff)
    assert staff.get("/simulator/inbox?phone=081200000003").get_json() == {
        "phone": "+6281200000003",
        "messages": [],
    }
    response = staff.client.post(
        "/simulator/sms",
        json={"phone": "081200000003", "text": "BANTUAN"},
        headers={"X-CSRFToken": token},
    )
    assert (response.status_code, response.get_json()) == (200, {"result": "ok"})
    [reply] = outbox_rows(db, OutboxMessage.recipient == "+6281200000003")
    inbox = staff.get("/simulator/inbox?phone=%2B6281200000003").get_json()
    assert inbox["phone"] == "+6281200000003"
    assert [(m["id"], m["body"], m["status"]) for m in inbox["messages"]] == [
        (reply.id, reply.body, "queued")
    ]
    assert reply.body.startswith("Disdukcapil Kab. Buleleng\n")  # the office, and a call back
    assert re.fullmatch(r"\d\d\.\d\d WITA", inbox["messages"][0]["at"])  # 10.30 WITA
    assert staff.get("/simulator/inbox?phone=abc").status_code == 400


def test_outside_the_embedded_default_the_simulator_plays_only_test_numbers(
    staff: Browser, backend: str
) -> None:
    """Nobody reads a resident's SMS or acts as a resident through the simulator in
    production; the embedded demo has no real residents to protect."""
    token = _sim_token(staff)
    resident = "+6281299990002"
    inbox = staff.get(f"/simulator/inbox?phone=%2B{resident[1:]}")
    dial = staff.client.post(
        "/simulator/dial", json={"phone": resident, "text": ""}, headers={"X-CSRFToken": token}
    )
    expected = 403 if backend == "production" else 200
    assert (inbox.status_code, dial.status_code) == (expected, expected)
