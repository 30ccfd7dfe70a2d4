"""The fake Africa's Talking itself (tests/fake_africastalking.py), which other tests and the
benchmarks rely on: it checks what it is sent, resets, takes orders, and runs as a script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.fake_africastalking import FakeAfricasTalking
from tests.workers.helpers import API_KEY, USERNAME, A, B
from workers.providers import ProviderError
from workers.providers.africastalking import AfricasTalkingProvider


def test_fake_checks_fields_and_paths(at_fake: FakeAfricasTalking) -> None:
    headers = {"apiKey": API_KEY}
    with requests.Session() as http:
        missing = http.post(
            at_fake.messaging_url,
            headers=headers,
            data={"username": USERNAME, "message": "x"},
            timeout=2,
        )
        assert (missing.status_code, at_fake.total_messages()) == (400, 0)
        assert http.get(at_fake.url + "/version1/other", timeout=2).status_code == 404
        wrong_user = http.post(
            at_fake.messaging_url,
            headers=headers,
            data={"username": "someone", "to": A, "message": "x"},
            timeout=2,
        )
        assert wrong_user.status_code == 401
        ok = http.post(
            at_fake.messaging_url,
            headers=headers,
            data={
                "username": USERNAME,
                "to": f"{A},0812",
                "message": "x",
                "bulkSMSMode": 1,
                "enqueue": 1,
            },
            timeout=2,
        )
    assert ok.status_code == 201
    assert ok.headers["Content-Type"] == "application/json"
    body = ok.json()["SMSMessageData"]
    assert body["Message"] == "Sent to 1/2 Total Cost: IDR 350.0000"
    assert [(r["number"], r["statusCode"], r["status"], r["cost"]) for r in body["Recipients"]] == [
        (A, 101, "Success", "IDR 350.0000"),
        ("0812", 403, "InvalidPhoneNumber", "0"),
    ]
    assert body["Recipients"][1]["messageId"] == "None"
    assert at_fake.requests[-1].enqueue == "1"


def test_fake_reset_and_control_endpoint(
    at_fake: FakeAfricasTalking, provider: AfricasTalkingProvider
) -> None:
    provider.send("x", [A])
    at_fake.set_status(B, 403)
    at_fake.outage(503)
    at_fake.reset()
    assert (at_fake.requests, at_fake.total_messages(), at_fake.call_count) == ([], 0, 0)
    assert provider.send("x", [B])[0].outcome == "sent"  # statuses and outage cleared

    with requests.Session() as http:
        reply = http.post(
            at_fake.url + "/_fake/control",
            timeout=2,
            json={"status": {A: 405}, "fail_next": [1, 502], "delay": 0.01},
        )
        assert reply.status_code == 200
        with pytest.raises(ProviderError):
            provider.send("x", [A])
        assert provider.send("x", [A])[0].reason == "405 InsufficientBalance"
        stats = http.get(at_fake.url + "/_fake/stats", timeout=2).json()
    assert stats == {"calls": 3, "failed_calls": 1, "messages": 1, "numbers": 1, "duplicates": 0}
    assert at_fake.delay == 0.01


@pytest.mark.servers  # the fake as a process of its own
def test_fake_runs_as_a_script() -> None:
    script = Path(__file__).parents[1] / "fake_africastalking.py"
    with subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--delay", "0.01", "--api-key", API_KEY],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        try:
            line = process.stdout.readline().strip()
            assert line.startswith("FAKE_AT_URL=http://127.0.0.1:")
            url = line.removeprefix("FAKE_AT_URL=")
            provider = AfricasTalkingProvider(username=USERNAME, api_key=API_KEY, base_url=url)
            assert [r.outcome for r in provider.send("x", [A, B])] == ["sent", "sent"]
        finally:
            process.terminate()
        final = json.loads(process.stdout.read().strip())
    assert process.returncode == 0
    assert final == {"calls": 1, "failed_calls": 0, "messages": 2, "numbers": 2, "duplicates": 0}
