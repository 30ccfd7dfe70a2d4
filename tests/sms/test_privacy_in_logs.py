"""No personal data in the logs (issue 10, item 9): after a run of webhook traffic that logs --
a flood the loop guard stops, replies sent by the console provider, a database error under an
inbound text -- the captured log holds no phone number unmasked and no SQL parameter, and the
loop guard wrote one line for the whole flood, not one per text."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert, select

from gateway.runtime import runtime
from gateway.webhooks.sms import SmsConversation
from storage.db import Database
from storage.models import OutboxMessage, Resident
from tests.helpers import NEIGHBOUR
from tests.sms.helpers import STRANGER, Texter

# A phone number as it would leak: E.164 with or without the plus, or the local 08… form.
UNMASKED = re.compile(r"(?:\+?62|\b0)8\d{8,11}")


def test_logs_hold_no_phone_number_unmasked(
    app: Flask,
    client: FlaskClient,
    db: Database,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rt = runtime(app)
    with caplog.at_level(logging.INFO):
        robot = Texter(client, db, STRANGER)
        for _ in range(100):  # a flood: the loop guard stops answering after 5
            robot.send("Pesan Anda diterima")
        with db.begin() as session:
            ids = list(session.scalars(select(OutboxMessage.id)))
        rt.worker.sender.send_batch(ids)  # the console provider logs each SMS it "sends"

        def broken_opt_out(self: Any, _opted_out: bool) -> None:  # a database error under a text
            with rt.db.begin() as session:
                for _ in range(2):
                    session.execute(insert(Resident).values(phone=self.phone, language="id"))

        monkeypatch.setattr(SmsConversation, "set_opt_out", broken_opt_out)
        neighbour = Texter(client, db, NEIGHBOUR)
        neighbour.send("STOP")
        assert neighbour.last_status == 503
    text = caplog.text
    assert "request failed" in text and "IntegrityError" in text  # the error was logged ...
    assert "SQL parameters hidden" in text  # ... without its parameters
    assert "SMS to +62812****0003" in text
    loop_lines = [r for r in caplog.records if "loop guard" in r.getMessage()]
    assert [r.getMessage() for r in loop_lines] == [
        "loop guard: not replying to +62812****0003 for a while"
    ]
    assert UNMASKED.findall(text) == []
