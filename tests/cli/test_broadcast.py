"""``broadcast``: the audience, the cost estimate, one outbox row per recipient in their language
(grouped, for full batches), and one clear error per bad option."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Broadcast, OutboxMessage, utcnow
from tests.cli.helpers import ANA, BEN, CICI, DEWA, FAJAR, GEDE, LES, visit_add
from tests.helpers import TEMBOK, as_utc, count, fails, ok, resident, rows, run


@pytest.fixture
def audience(db: Database) -> None:
    resident(db, ANA)
    resident(db, BEN, language="en")
    resident(db, CICI, opted_out=True)
    resident(db, DEWA, village=LES)
    resident(db, GEDE, village=LES, opted_out=True)
    resident(db, FAJAR, village="51.08.05.2015")  # Kayuputih, Sukasada


@pytest.mark.usefixtures("audience")
def test_broadcast_without_yes_only_shows(runner: Any, db: Database) -> None:
    assert ok(
        run(
            runner,
            "broadcast",
            "--village",
            "Tembok",
            "--text",
            " Kantor Disdukcapil tutup Senin. ",
        )
    ) == (
        f"audience: village:{TEMBOK}, 2 recipient(s)\n"
        "text: 31 characters, GSM-7, 1 segment(s)\n"
        "cost estimate: 700 IDR\n"
        "nothing sent: add --yes to send\n"
    )
    long_text = "Kantor tutup. " * 12  # 167 characters: two parts
    assert ok(run(runner, "broadcast", "--district", "Tejakula", "--text", long_text)) == (
        "audience: district:51.08.09, 3 recipient(s)\n"
        "text: 167 characters, GSM-7, 2 segment(s)\n"
        "cost estimate: 2,100 IDR\n"
        "nothing sent: add --yes to send\n"
    )
    assert ok(run(runner, "broadcast", "--all", "--text", "Kantor tutup “Senin”")) == (
        "audience: all, 4 recipient(s)\n"
        "text: 20 characters, UCS-2, 1 segment(s)\n"
        "  note: '“' '”' make(s) it UCS-2 (70 per segment)\n"
        "cost estimate: 1,400 IDR\n"
        "nothing sent: add --yes to send\n"
    )
    assert count(db, Broadcast) == 0 and count(db, OutboxMessage) == 0


@pytest.mark.usefixtures("audience")
def test_broadcast_price_is_a_setting(app_config: dict[str, Any]) -> None:
    from gateway import create_app

    app = create_app(
        {"TESTING": True, **app_config, "SMS_PRICE_PER_SEGMENT": 410.5, "SMS_CURRENCY": "Rp"}
    )
    try:
        out = ok(run(app.test_cli_runner(), "broadcast", "--all", "--text", "x" * 161))
        assert out.splitlines()[2] == "cost estimate: 3,284 Rp"  # 4 recipients x 2 x 410.5
    finally:
        app.extensions["gateway"].db.dispose()


@pytest.mark.usefixtures("audience")
def test_broadcast_with_yes_writes_one_row_per_recipient(runner: Any, db: Database) -> None:
    before = utcnow()
    assert ok(
        run(
            runner,
            "broadcast",
            "--village",
            "Tembok",
            "--text",
            "Kantor Disdukcapil tutup Senin.",
            "--yes",
        )
    ).splitlines()[-1] == ("broadcast 1: 2 message(s) queued")
    ok(
        run(
            runner,
            "broadcast",
            "--district",
            "Tejakula",
            "--text",
            "Besok kantor tutup.",
            "--at",
            "2030-01-02 07:00",
            "--yes",
        )
    )
    with db.begin() as session:
        planned = [
            (b.kind, b.audience, b.body, b.status, b.recipients, as_utc(b.send_at))
            for b in session.scalars(select(Broadcast).order_by(Broadcast.id))
        ]
    assert planned[1] == (
        "custom",
        "district:51.08.09",
        "Besok kantor tutup.",
        "planned",
        3,
        dt.datetime(2030, 1, 1, 23, tzinfo=dt.UTC),
    )
    assert planned[0][:5] == (
        "custom",
        f"village:{TEMBOK}",
        "Kantor Disdukcapil tutup Senin.",
        "planned",
        2,
    )
    assert before <= planned[0][5] <= utcnow()  # type: ignore[operator]
    columns = (
        "recipient",
        "kind",
        "urgent",
        "status",
        "body",
        "broadcast_id",
        "segments",
        "dedupe_key",
    )
    assert sorted(rows(db, *columns), key=lambda row: (row[5], row[0])) == [
        (
            ANA,
            "broadcast",
            False,
            "queued",
            "Kantor Disdukcapil tutup Senin.",
            1,
            1,
            f"broadcast:1:{ANA}",
        ),
        (
            BEN,
            "broadcast",
            False,
            "queued",
            "Kantor Disdukcapil tutup Senin.",
            1,
            1,
            f"broadcast:1:{BEN}",
        ),
        (ANA, "broadcast", False, "queued", "Besok kantor tutup.", 2, 1, f"broadcast:2:{ANA}"),
        (BEN, "broadcast", False, "queued", "Besok kantor tutup.", 2, 1, f"broadcast:2:{BEN}"),
        (DEWA, "broadcast", False, "queued", "Besok kantor tutup.", 2, 1, f"broadcast:2:{DEWA}"),
    ]
    assert {due for (due,) in rows(db, "due_at", since=2)} == {
        dt.datetime(2030, 1, 1, 23, tzinfo=dt.UTC)
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--village", "Tembok", "--all"), "choose exactly one of --village, --district, --all"),
        (
            ("--village", "Tembok", "--district", "Tejakula"),
            "choose exactly one of --village, --district, --all",
        ),
        ((), "choose exactly one of --village, --district, --all"),
        (
            ("--village", "Kayuputih"),
            "Invalid value: 'Kayuputih' names 2 villages; use a code: "
            "51.08.04.2003 (Banjar), 51.08.05.2015 (Sukasada)",
        ),
        (("--district", "Atlantis"), "Invalid value: no district with code or name 'Atlantis'"),
        (
            ("--all", "--at", "tomorrow"),
            "Invalid value for --at: 'tomorrow' is not like 2026-12-03 07:00",
        ),
    ],
)
@pytest.mark.usefixtures("audience")
def test_broadcast_usage_errors(
    runner: Any, db: Database, args: tuple[str, ...], message: str
) -> None:
    fails(run(runner, "broadcast", *args, "--text", "Halo", "--yes"), message, exact=True)
    fails(
        run(runner, "broadcast", "--all", "--text", "   ", "--yes"),
        "Invalid value for --text: the text is empty",
        exact=True,
    )
    assert count(db, Broadcast) == 0 and count(db, OutboxMessage) == 0


@pytest.mark.parametrize("kind", ["broadcast", "visit"])
def test_a_broadcast_is_written_grouped_by_language(runner: Any, db: Database, kind: str) -> None:
    """One text per run of consecutive outbox ids: the sender hands the provider one text for
    many numbers per call, so interleaved languages would halve its batches."""
    phones = [f"+62812000001{i:02d}" for i in range(8)]
    for i, phone in enumerate(phones):
        resident(db, phone, language="en" if i % 3 == 1 else "id")
    if kind == "broadcast":
        ok(
            run(
                runner,
                "broadcast",
                "--village",
                "Tembok",
                "--text",
                "Kantor tutup Senin.",
                "--text-en",
                "The office is closed on Monday.",
                "--yes",
            )
        )
    else:
        visit_add(runner)
    languages = [
        ("en" if body.startswith(("The office", "Adminduk: staff")) else "id")
        for (body,) in rows(db, "body")
    ]
    assert sorted(languages) == ["en"] * 3 + ["id"] * 5  # everyone, each in their language
    assert languages == ["id"] * 5 + ["en"] * 3  # and grouped: Indonesian first
