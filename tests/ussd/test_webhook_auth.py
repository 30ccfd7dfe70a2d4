"""Webhook authentication on POST /ussd: the token, the IP allow-list (also behind a trusted
proxy), and both together."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from gateway import create_app
from gateway.runtime import runtime
from tests.ussd.helpers import GOOD, check_reply


@pytest.fixture
def secured(app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app({"TESTING": True, **app_config, "WEBHOOK_TOKEN": "s3cret-t0ken"})
    yield app
    runtime(app).db.dispose()


def test_webhook_token(secured: Flask) -> None:
    client = secured.test_client()
    for response in (
        client.post("/ussd", data=GOOD),
        client.post("/ussd?token=wrong", data=GOOD),
        client.post("/ussd?token=", data=GOOD),
        client.post("/ussd?token=s3cret-t0ke", data=GOOD),
        client.post("/ussd", data=GOOD, headers={"X-Webhook-Token": "S3CRET-T0KEN"}),
        client.post("/ussd/events", data={**GOOD, "status": "Success"}),
    ):
        assert response.status_code == 403
        assert response.get_data(as_text=True) == "webhook token missing or wrong\n"
    by_query = client.post("/ussd?token=s3cret-t0ken", data=GOOD)
    assert by_query.status_code == 200
    assert by_query.get_data(as_text=True).startswith("CON Adminduk Buleleng\n")
    by_header = client.post(
        "/ussd", data={**GOOD, "text": "2"}, headers={"X-Webhook-Token": "s3cret-t0ken"}
    )
    assert by_header.status_code == 200
    assert check_reply(by_header).startswith("CON ")
    assert (
        client.post(
            "/ussd/events?token=s3cret-t0ken", data={**GOOD, "status": "Success"}
        ).status_code
        == 200
    )
    assert client.get("/healthz").status_code == 200  # the load balancer has no token


def test_webhook_ip_allow_list(app_config: dict[str, Any]) -> None:
    app = create_app({"TESTING": True, **app_config, "WEBHOOK_ALLOWED_IPS": ["10.9.0.0/16"]})
    try:
        client = app.test_client()
        refused = client.post("/ussd", data=GOOD)  # from 127.0.0.1
        assert refused.status_code == 403
        assert refused.get_data(as_text=True) == "source address not allowed\n"
        spoofed = client.post("/ussd", data=GOOD, headers={"X-Forwarded-For": "10.9.1.2"})
        assert spoofed.status_code == 403  # no trusted proxy: the header is not believed
        allowed = client.post("/ussd", data=GOOD, environ_base={"REMOTE_ADDR": "10.9.1.2"})
        assert allowed.status_code == 200
        assert check_reply(allowed).startswith("CON ")
        outside = client.post("/ussd", data=GOOD, environ_base={"REMOTE_ADDR": "10.10.0.1"})
        assert outside.status_code == 403
    finally:
        runtime(app).db.dispose()


def test_webhook_ip_allow_list_behind_a_trusted_proxy(app_config: dict[str, Any]) -> None:
    app = create_app(
        {
            "TESTING": True,
            **app_config,
            "WEBHOOK_ALLOWED_IPS": ["10.9.0.0/16"],
            "TRUSTED_PROXIES": ["127.0.0.1/32"],  # the test client's address
        }
    )
    try:
        client = app.test_client()
        via_proxy = client.post("/ussd", data=GOOD, headers={"X-Forwarded-For": "10.9.1.2"})
        assert via_proxy.status_code == 200
        # only the proxy's own entry counts: a forged earlier hop does not get in
        forged = client.post("/ussd", data=GOOD, headers={"X-Forwarded-For": "10.9.1.2, 192.0.2.7"})
        assert forged.status_code == 403
        # straight to the app's port, not through the proxy: the header is not believed
        direct = client.post(
            "/ussd",
            data=GOOD,
            headers={"X-Forwarded-For": "10.9.1.2"},
            environ_base={"REMOTE_ADDR": "192.0.2.50"},
        )
        assert direct.status_code == 403
    finally:
        runtime(app).db.dispose()


def test_token_and_allow_list_together(app_config: dict[str, Any]) -> None:
    app = create_app(
        {
            "TESTING": True,
            **app_config,
            "WEBHOOK_TOKEN": "tok",
            "WEBHOOK_ALLOWED_IPS": ["10.9.0.0/16"],
        }
    )
    try:
        client = app.test_client()
        inside = {"REMOTE_ADDR": "10.9.1.2"}
        assert client.post("/ussd", data=GOOD, environ_base=inside).status_code == 403
        assert client.post("/ussd?token=tok", data=GOOD).status_code == 403
        assert client.post("/ussd?token=tok", data=GOOD, environ_base=inside).status_code == 200
    finally:
        runtime(app).db.dispose()
