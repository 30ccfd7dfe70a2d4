"""``outbox list`` and ``outbox retry``."""

from __future__ import annotations

from typing import Any

import pytest

from storage import outbox
from storage.db import Database
from storage.models import OutboxMessage, utcnow
from tests.cli.helpers import ANA, BEN, DEWA, LES
from tests.helpers import fails, ok, resident, rows, run


@pytest.fixture
def failed_ones(runner: Any, db: Database) -> None:
    resident(db, ANA)
    resident(db, BEN)
    resident(db, DEWA, village=LES)
    ok(run(runner, "broadcast", "--village", "Tembok", "--text", "Kantor tutup Senin.", "--yes"))
    ok(run(runner, "broadcast", "--village", "Les", "--text", "Kantor tutup Selasa.", "--yes"))
    with db.begin() as session:
        now = utcnow()
        for message_id, reason in ((1, "403 InvalidPhoneNumber"), (2, "406 UserInBlacklist")):
            session.execute(
                OutboxMessage.__table__.update()
                .where(OutboxMessage.id == message_id)
                .values(attempts=2)
            )
            outbox.mark_failed(session, message_id, reason, now)


@pytest.mark.usefixtures("failed_ones")
def test_outbox_list(runner: Any) -> None:
    assert ok(run(runner, "outbox", "list")) == (
        "failed: 2  queued: 1\n"
        f"      3 queued    broadcast    {DEWA}  0x  'Kantor tutup Selasa.'\n"
        f"      2 failed    broadcast    {BEN}  2x  'Kantor tutup Senin.'  (406 UserInBlacklist)\n"
        f"      1 failed    broadcast    {ANA}  2x  'Kantor tutup Senin.'  "
        "(403 InvalidPhoneNumber)\n"
    )
    assert ok(run(runner, "outbox", "list", "--status", "queued")) == (
        f"failed: 2  queued: 1\n      3 queued    broadcast    {DEWA}  0x  'Kantor tutup Selasa.'\n"
    )
    assert ok(run(runner, "outbox", "list", "--limit", "1")).splitlines()[1:] == [
        f"      3 queued    broadcast    {DEWA}  0x  'Kantor tutup Selasa.'"
    ]
    fails(
        run(runner, "outbox", "list", "--status", "lost"),
        "Invalid value for '--status': 'lost' is not one of 'queued', 'sending', 'sent', "
        "'delivered', 'failed', 'cancelled'.",
        exact=True,
    )


def test_outbox_list_of_an_empty_outbox(runner: Any) -> None:
    assert ok(run(runner, "outbox", "list")) == "outbox empty\n"


@pytest.mark.usefixtures("failed_ones")
def test_outbox_retry(runner: Any, db: Database) -> None:
    before = utcnow()
    assert ok(run(runner, "outbox", "retry", "2", "3", "99")) == "1 message(s) queued again\n"
    assert rows(db, "id", "status", "attempts", "failed_at") == [
        (1, "failed", 2, rows(db, "failed_at")[0][0]),
        (2, "queued", 0, None),
        (3, "queued", 0, None),
    ]
    assert before <= rows(db, "due_at")[1][0] <= utcnow()  # due now again
    assert ok(run(runner, "outbox", "retry", "--failed")) == "1 message(s) queued again\n"
    assert rows(db, "status", "attempts") == [("queued", 0)] * 3
    assert ok(run(runner, "outbox", "retry", "--failed")) == "0 message(s) queued again\n"
    fails(run(runner, "outbox", "retry"), "give message ids or --failed", exact=True)
    fails(
        run(runner, "outbox", "retry", "1", "--failed"), "give message ids or --failed", exact=True
    )
    fails(
        run(runner, "outbox", "retry", "one"),
        "Invalid value for '[IDS]...': 'one' is not a valid integer.",
        exact=True,
    )
