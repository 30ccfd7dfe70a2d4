"""Document requests: status changes one by one or for a selection (each resident told by
SMS), finding them, registering one at the office, and the CSV import."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re

from sqlalchemy import select

from storage import numbers, queries
from storage.db import Database
from storage.models import DocumentRequest
from tests.console.helpers import (
    GRANNY,
    KAYUPUTIH_REQUESTS,
    R1,
    R2,
    R3,
    R4,
    R6,
    TEMBOK_REQUESTS,
    Browser,
    audit_log,
    errors_of,
    flashes,
    outbox_rows,
    request_state,
    snapshot,
)
from tests.helpers import KAYUPUTIH_SUKASADA, TEMBOK


def test_change_one_request_status(staff: Browser, db: Database) -> None:
    response = staff.post(
        "/staff/requests/status",
        {"numbers": [R2], "status": "ready", "pickup": "Kantor Desa Tembok"},
    )
    page = staff.follow(response, "/staff/requests")
    assert flashes(page) == [("ok", "1 permohonan diubah; warga diberi tahu lewat SMS.")]
    assert request_state(db, R2) == ("ready", "Kantor Desa Tembok", 2)
    with db.begin() as session:
        request = queries.find_request(session, R2)
        assert request is not None
        key = f"request:{request.id}:change:{queries.last_status_change_id(session, request)}"
    [message] = outbox_rows(db)
    assert (message.recipient, message.kind, message.status, message.dedupe_key) == (
        GRANNY,
        "notification",
        "queued",
        key,
    )
    assert R2 in message.body and "Kantor Desa Tembok" in message.body
    assert audit_log(db)[-1] == (
        "staff",
        "request.status",
        "document_request",
        R2,
        {"status": "processing", "pickup": None},
        {"status": "ready", "pickup": "Kantor Desa Tembok"},
    )


def test_change_a_selection_of_requests(staff: Browser, db: Database) -> None:
    page = staff.get("/staff/requests?status=ready").text
    assert set(re.findall(r'name="numbers" value="(\d+)"', page)) == {R1, R6}
    response = staff.post(
        "/staff/requests/status", {"numbers": [R1, R6, ""], "status": "collected", "pickup": ""}
    )
    page = staff.follow(response, "/staff/requests")
    assert flashes(page) == [("ok", "2 permohonan diubah; warga diberi tahu lewat SMS.")]
    assert request_state(db, R1) == ("collected", "Kantor Desa Tembok", 2)
    assert request_state(db, R6) == ("collected", "Balai Desa Tembok", 2)
    assert sorted((m.recipient, m.kind) for m in outbox_rows(db)) == [
        (GRANNY, "notification"),
        ("+6281200000009", "notification"),
    ]
    assert [a[:4] for a in audit_log(db)] == [
        ("staff", "request.status", "document_request", R1),
        ("staff", "request.status", "document_request", R6),
    ]
    assert [(a[4], a[5]) for a in audit_log(db)] == [
        (
            {"status": "ready", "pickup": "Kantor Desa Tembok"},
            {"status": "collected", "pickup": "Kantor Desa Tembok"},
        ),
        (
            {"status": "ready", "pickup": "Balai Desa Tembok"},
            {"status": "collected", "pickup": "Balai Desa Tembok"},
        ),
    ]


def test_a_refused_status_change_changes_nothing(staff: Browser, db: Database) -> None:
    before = snapshot(db)
    cases = [
        ({"numbers": [], "status": "ready"}, "Pilih setidaknya satu permohonan."),
        (
            {"numbers": [R1], "status": "lost"},
            "Status tidak dikenal: lost",
        ),
        ({"numbers": [R1], "status": ""}, "Pilih status baru."),
        (
            {"numbers": [R1], "status": "collected", "pickup": "x" * 121},
            "tempat pengambilan lebih dari 120 karakter",
        ),
    ]
    got = errors_of(staff, "/staff/requests/status", {}, cases, status=302, then="/staff/requests")
    assert got == {error: [("error", error)] for _, error in cases}
    # a number that does not exist, even after a good one: nothing is changed
    unknown = numbers.with_check_digit("9999999")
    response = staff.post(
        "/staff/requests/status", {"numbers": [R1, unknown], "status": "rejected"}
    )
    assert response.status_code == 404
    assert snapshot(db) == before
    assert request_state(db, R1) == ("ready", "Kantor Desa Tembok", 1)


def test_find_requests_by_number_or_phone(staff: Browser) -> None:
    def listed(query: str) -> set[str]:
        page = staff.get(f"/staff/requests?{query}").text
        return set(re.findall(r'name="numbers" value="(\d+)"', page))

    assert listed("") == TEMBOK_REQUESTS | KAYUPUTIH_REQUESTS
    assert listed(f"q={R3}") == {R3}
    assert listed(f"q=%2B{R3}") == set()
    assert listed("q=0812-0000-0001") == {R1, R2}
    assert listed("q=%2B62+812+0000+0002") == KAYUPUTIH_REQUESTS
    assert listed("q=0812-0000-0002&status=collected") == {R4}
    assert "Tidak ditemukan." in staff.get("/staff/requests?q=12345").text


def test_register_a_request_at_the_office(staff: Browser, db: Database) -> None:
    response = staff.post(
        "/staff/requests/new",
        {
            "doc_type": "kia",
            "phone": "0812 3456 7890",
            "birth_year": "2015",
            "village": KAYUPUTIH_SUKASADA,
        },
    )
    with db.begin() as session:
        created = session.scalars(
            select(DocumentRequest).where(DocumentRequest.applicant_phone == "+6281234567890")
        ).one()
        assert (
            created.doc_type,
            created.applicant_birth_year,
            created.village_code,
            created.status,
        ) == ("kia", 2015, KAYUPUTIH_SUKASADA, "submitted")
        number = created.number
    page = staff.follow(response, f"/staff/requests?q={number}")
    assert flashes(page) == [
        ("ok", f"Permohonan terdaftar. Nomornya: {number}. Pemohon diberi tahu lewat SMS.")
    ]
    assert audit_log(db)[-1] == (
        "staff",
        "request.add",
        "document_request",
        number,
        None,
        {"type": "kia", "status": "submitted", "village_code": KAYUPUTIH_SUKASADA},
    )
    # Melali Kecapil: the applicant is told the number and where to check it
    [message] = outbox_rows(db)
    assert (message.recipient, message.kind, message.body) == (
        "+6281234567890",
        "notification",
        f"Adminduk Buleleng: permohonan KIA (kartu anak) Anda terdaftar, nomor {number}. "
        "Cek status di *123#.",
    )


def test_a_bad_request_registration_is_shown_again(staff: Browser, db: Database) -> None:
    before = snapshot(db)
    cases = [
        ({"phone": "12"}, "Bukan nomor HP: 12"),
        ({"birth_year": "19x0"}, "Tahun lahir 4 angka."),
        (
            {"birth_year": "1800"},
            f"tahun lahir 1800 tidak di antara 1900 dan {dt.date.today().year}",
        ),
        ({"birth_year": "85"}, f"tahun lahir 85 tidak di antara 1900 dan {dt.date.today().year}"),
        (
            {"doc_type": "passport"},
            "jenis dokumen 'passport' tidak dikenal "
            "(salah satu dari: ktp, kk, birth_cert, death_cert, kia, move)",
        ),
        ({"village": "Atlantis"}, "tidak ada desa dengan kode atau nama 'Atlantis'"),
        ({"village": ""}, "Pilih desa."),
    ]
    got = errors_of(
        staff,
        "/staff/requests/new",
        {"doc_type": "ktp", "phone": "081234567890", "birth_year": "1980", "village": TEMBOK},
        cases,
    )
    assert got == {error: [("error", error)] for _, error in cases}
    assert snapshot(db) == before


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def _preview_then_import(staff: Browser, db: Database, body: bytes) -> tuple[str, str]:
    """Upload ``body``: the preview page, with nothing written; then its confirmation: the
    report page."""
    before = snapshot(db)
    response = staff.post(
        "/staff/requests/import",
        {"file": (io.BytesIO(body), "requests.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    preview = html.unescape(response.get_data(as_text=True))
    assert snapshot(db) == before  # a preview writes nothing
    [content] = re.findall(r'<textarea name="content" hidden>\n(.*?)</textarea>', preview, re.S)
    response = staff.post(
        "/staff/requests/import/confirm",
        {"content": content},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    return preview, html.unescape(response.get_data(as_text=True))


def test_csv_import_reports_rejected_rows(staff: Browser, db: Database) -> None:
    given = numbers.with_check_digit("3000001")
    body = _csv(
        [
            ["Type", "Phone", "Birth_Year", "Village", "Status", "Number", "Pickup"],
            ["ktp", "0812-5555-0001", "1980", "Tembok", "", "", ""],  # 2: good
            [
                "kk",
                "+62 812 5555 0002",
                "1975",
                KAYUPUTIH_SUKASADA,
                "ready",
                given,
                "Kantor Camat Sukasada",
            ],  # 3: good
            ["ktp", "12345", "1980", "Tembok", "", "", ""],  # 4: phone
            ["ktp", "081255550003", "tua", "Tembok", "", "", ""],  # 5: birth year
            ["ktp", "081255550004", "1980", "Atlantis", "", "", ""],  # 6: village
            ["paspor", "081255550005", "1980", "Tembok", "", "", ""],  # 7: type
            ["ktp", "081255550006", "1980", "Tembok", "", R1, ""],  # 8: number in use
            ["ktp", "081255550007", "1980", "Tembok", "lost", "", ""],  # 9: status
            ["ktp", "081255550008", "1980", "Tembok", "rejected", "", ""],  # 10: no reason
        ]
    )
    preview, page = _preview_then_import(staff, db, body)
    assert "Dibaca sebagai UTF-8, kolom dipisah koma." in preview
    assert "2 dari 9 baris bisa diimpor." in preview  # (a number in use: found on writing)
    assert "<p>2 diimpor, 7 ditolak</p>" in page
    assert re.findall(r"<tr><td>(\d+)</td><td>(.*?)</td></tr>", page) == [
        ("4", "Bukan nomor HP: 12345"),
        ("5", "Tahun lahir tidak benar: tua"),
        ("6", "Tidak ada desa dengan kode atau nama 'Atlantis'."),
        ("7", "Jenis dokumen tidak dikenal: paspor"),
        ("8", f"Nomor permohonan {R1} sudah ada."),
        ("9", "Status tidak dikenal: lost"),
        ("10", "Sebutkan yang kurang (warga diberi tahu)."),
    ]
    with db.begin() as session:
        imported = {
            (
                r.applicant_phone,
                r.doc_type,
                r.applicant_birth_year,
                r.village_code,
                r.status,
                r.pickup_place,
            ): r.number
            for r in session.scalars(
                select(DocumentRequest).where(DocumentRequest.applicant_phone.like("+62812555%"))
            )
        }
        assert queries.find_request(session, given) is not None
    assert set(imported) == {
        ("+6281255550001", "ktp", 1980, TEMBOK, "submitted", None),
        ("+6281255550002", "kk", 1975, KAYUPUTIH_SUKASADA, "ready", "Kantor Camat Sukasada"),
    }
    # the report lists the new numbers
    added = re.findall(r'<tr class="added"><td>(\d+)</td>', page)
    assert sorted(added) == sorted(imported.values())
    assert [(a[0], a[1]) for a in audit_log(db)] == [("staff", "request.add")] * 2
    # each applicant is told their number, and where to check it
    assert sorted((m.recipient, m.kind, m.body) for m in outbox_rows(db)) == [
        (
            "+6281255550001",
            "notification",
            f"Adminduk Buleleng: permohonan KTP-el Anda terdaftar, nomor {added[0]}. "
            "Cek status di *123#.",
        ),
        (
            "+6281255550002",
            "notification",
            f"Adminduk Buleleng: permohonan Kartu Keluarga Anda terdaftar, nomor {given}. "
            "Cek status di *123#.",
        ),
    ]


def test_a_semicolon_csv_in_windows_1252_from_excel(staff: Browser, db: Database) -> None:
    """What Excel on an Indonesian Windows saves as "CSV": semicolons, Windows-1252, CRLF."""
    text = (
        "type;phone;birth_year;village;status;pickup;reason\r\n"
        "ktp;0812-5555-0011;1980;Tembok;;;\r\n"
        "kk;0812 5555 0012;1975;Tembok;ready;Kantor Desa Tembok \u2013 loket 2;\r\n"
        "kia;081255550013;2015;Tembok;rejected;;kk\r\n"
        "akta;081255550014;1990;Tembok;;;\r\n"
    )
    preview, page = _preview_then_import(staff, db, text.encode("cp1252"))
    assert "Dibaca sebagai Windows-1252, kolom dipisah titik koma." in preview
    assert "Kantor Desa Tembok \u2013 loket 2" in preview  # the dash read as Excel wrote it
    assert "3 dari 4 baris bisa diimpor." in preview
    assert "<p>3 diimpor, 1 ditolak</p>" in page
    assert re.findall(r"<tr><td>(\d+)</td><td>(.*?)</td></tr>", page) == [
        ("5", "Jenis dokumen tidak dikenal: akta")
    ]
    added = re.findall(r'<tr class="added"><td>(\d+)</td><td>(.*?)</td>', page)
    with db.begin() as session:
        stored = {
            r.number: (r.applicant_phone, r.status, r.pickup_place, r.status_reason)
            for r in session.scalars(
                select(DocumentRequest).where(
                    DocumentRequest.applicant_phone.like("+628125555001%")
                )
            )
        }
    assert sorted(stored.values()) == [
        ("+6281255550011", "submitted", None, None),
        ("+6281255550012", "ready", "Kantor Desa Tembok \u2013 loket 2", None),
        ("+6281255550013", "rejected", None, "kk"),
    ]
    assert sorted(added) == sorted((n, phone) for n, (phone, *_) in stored.items())
    told = {m.recipient: m.body for m in outbox_rows(db)}
    assert told == {
        phone: f"Adminduk Buleleng: permohonan {doc} Anda terdaftar, nomor {number}. "
        "Cek status di *123#."
        for number, (phone, *_) in stored.items()
        for doc in [
            {"+6281255550011": "KTP-el", "+6281255550012": "Kartu Keluarga"}.get(
                phone, "KIA (kartu anak)"
            )
        ]
    }


def test_csv_delimiter_and_encoding_are_detected() -> None:
    from gateway.console import request_import

    for delimiter in (",", ";", "\t"):
        text = delimiter.join(["type", "phone", "birth_year", "village"]) + "\n"
        text += delimiter.join(["ktp", "0812-1", "1980", "Tembok"]) + "\n"
        assert request_import.delimiter_of(text) == delimiter
    assert request_import.delimiter_of("type\nktp\n") == ","
    assert request_import.decode("\ufefftype".encode()) == ("type", "UTF-8")
    assert request_import.decode("Gédé".encode()) == ("Gédé", "UTF-8")
    assert request_import.decode("Gédé".encode("cp1252")) == ("Gédé", "Windows-1252")
