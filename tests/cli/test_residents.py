"""``residents import``: the good rows kept, each bad one reported on a line of its own; and the
language imported is what the caller hears next."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from storage.db import Database
from storage.models import OutboxMessage, Resident
from tests.cli.helpers import LES
from tests.helpers import TEMBOK, Phone, count, fails, ok, resident, run


def test_residents_import_reports_bad_rows_and_keeps_the_good(
    runner: Any, db: Database, tmp_path: Path
) -> None:
    resident(db, "+6281200000009", village=LES, opted_out=True)
    path = tmp_path / "residents.csv"
    path.write_text(
        "\ufeffPhone , Village,Language\n"
        "0812-0000-0001,Tembok,id\n"
        "+62 812 0000 0002,51.08.09.2010,en\n"
        "hello,Tembok,id\n"
        "081200000001,Tembok,en\n"
        "081200000003,Nowhere,id\n"
        "081200000004,Kayuputih,id\n"
        "081200000005,Tembok,fr\n"
        "6281200000006,les,\n"
        ",,\n"
        "081200000009,Tembok,en\n",
        encoding="utf-8",
    )
    assert ok(run(runner, "residents", "import", str(path))) == (
        "residents: 3 added, 1 updated, 6 rejected\n"
        "  rejected line 4: 'hello' is not a phone number\n"
        "  rejected line 5: +6281200000001 appears twice in the file\n"
        "  rejected line 6: no village with code or name 'Nowhere'\n"
        "  rejected line 7: 'Kayuputih' names 2 villages; use a code: 51.08.04.2003 (Banjar), "
        "51.08.05.2015 (Sukasada)\n"
        "  rejected line 8: unknown language 'fr' (one of en, id)\n"
        "  rejected line 10: '' is not a phone number\n"
    )
    with db.begin() as session:
        stored = [
            (r.phone, r.village_code, r.language, r.opted_out)
            for r in session.scalars(select(Resident).order_by(Resident.phone))
        ]
    assert stored == [
        ("+6281200000001", TEMBOK, "id", False),
        ("+6281200000002", TEMBOK, "en", False),
        ("+6281200000006", LES, "id", False),
        ("+6281200000009", TEMBOK, "en", True),  # moved and switched; still opted out
    ]
    assert count(db, OutboxMessage) == 0


def test_residents_import_refuses_an_unreadable_file(
    runner: Any, db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "residents.csv"
    path.write_text("phone,desa\n081200000001,Tembok\n")
    fails(
        run(runner, "residents", "import", str(path)),
        f"{path}: needs columns phone and village (found: desa, phone)",
        exact=True,
    )
    path.write_bytes(b"phone,village\n0812\xff,Tembok\n")
    fails(
        run(runner, "residents", "import", str(path)),
        f"{path}: not UTF-8 text (invalid start byte)",
        exact=True,
    )
    assert count(db, Resident) == 0


def test_an_imported_language_is_what_the_caller_hears_next(
    runner: Any, db: Database, phone: Phone, tmp_path: Path
) -> None:
    assert phone.dial().startswith("CON Adminduk Buleleng\n1 Cek status")
    path = tmp_path / "residents.csv"
    path.write_text(f"phone,village,language\n{phone.number},Tembok,en\n")
    ok(run(runner, "residents", "import", str(path)))
    assert phone.dial().startswith("CON Adminduk Buleleng\n1 Check status")
