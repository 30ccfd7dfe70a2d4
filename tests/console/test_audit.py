"""The audit page: who changed what, field by field before → after, with names rather than
codes, times in WITA; filtered by person and by day."""

from __future__ import annotations

import datetime as dt
import html
import re

from common.local_time import local_today
from tests.console.helpers import R2, Browser, unlabelled
from tests.helpers import TEMBOK


def rows(page: str) -> list[str]:
    """Each entry's cells as text, tags dropped: "when | who | what | record | changes"."""
    found = re.findall(r"<tr><td>(.*?)</td></tr>", unlabelled(html.unescape(page)), re.S)
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"</td>\s*<td>", " | ", row))).strip()
        for row in found
    ]


def test_the_audit_page_shows_who_changed_what(admin: Browser, staff: Browser) -> None:
    staff.post("/staff/requests/status", {"numbers": [R2], "status": "ready"})
    day = local_today() + dt.timedelta(days=5)
    staff.post(
        "/staff/visits/new",
        {
            "village": TEMBOK,
            "date": day.isoformat(),
            "start": "09:00",
            "end": "12:00",
            "place": "Balai",
        },
    )
    entries = rows(admin.get("/staff/audit").text)
    assert len(entries) == 2
    visit, status = entries
    # the newest first; the time in WITA, labelled
    assert re.match(
        r"\w+, \d+ \w+ \d{4} \d\d\.\d\d WITA \| staff \| menambah kunjungan desa", visit
    )
    assert "Desa Tembok (Tejakula)" in visit
    assert "Tanggal " in visit and "Mulai 09:00" in visit and "Tempat Balai" in visit
    assert (
        f"| staff | mengubah status permohonan | permohonan {R2} | Status diproses → siap diambil"
        in status
    )
    assert "51.08" not in visit + status  # names, not codes
    assert "{" not in visit + status  # no raw JSON


def test_the_audit_log_is_filtered_by_person_and_day(admin: Browser, staff: Browser) -> None:
    staff.post("/staff/requests/status", {"numbers": [R2], "status": "ready"})
    admin.post("/staff/users/officer/active", {"active": "0"})
    assert len(rows(admin.get("/staff/audit").text)) == 2
    assert [r.split(" | ")[1] for r in rows(admin.get("/staff/audit?who=staff").text)] == ["staff"]
    assert [r.split(" | ")[1] for r in rows(admin.get("/staff/audit?who=admin").text)] == ["admin"]
    today = local_today()
    assert len(rows(admin.get(f"/staff/audit?day={today}").text)) == 2
    yesterday = today - dt.timedelta(days=1)
    assert rows(admin.get(f"/staff/audit?day={yesterday}").text) == []
    page = admin.get("/staff/audit?who=staff").text
    assert '<option value="staff" selected>staff</option>' in page
    assert admin.get("/staff/audit?day=besok").status_code == 200  # an odd day: every day
