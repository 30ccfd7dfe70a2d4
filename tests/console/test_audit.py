"""The audit page shows who did what, with the record before and after."""

from __future__ import annotations

import html
import json
import re

from tests.console.helpers import R2, Browser


def test_the_audit_page_shows_who_did_what(admin: Browser, staff: Browser) -> None:
    staff.post("/staff/requests/status", {"numbers": [R2], "status": "ready"})
    page = html.unescape(admin.get("/staff/audit").text)
    row = re.search(
        r"<tr><td>[\d-]+ [\d:]+</td><td>staff</td><td>request.status</td>"
        r"<td>document_request " + R2 + r"</td><td><code>(.*?)</code></td>"
        r"<td><code>(.*?)</code></td></tr>",
        page,
    )
    assert row is not None
    assert json.loads(row.group(1)) == {"status": "processing", "pickup": None}
    assert json.loads(row.group(2)) == {"status": "ready", "pickup": None}
