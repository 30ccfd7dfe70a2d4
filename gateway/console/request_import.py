"""Reading a CSV file of document requests as offices make them: Excel in Indonesia writes
semicolons (the decimal comma takes the comma) in Windows-1252; others write commas or tabs, in
UTF-8 with or without a byte-order mark. Each row is checked here, with its refusal as a key (the
English sentence of ui_id.toml) and its values, so the reader sees it in their language."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from typing import Any

from common.local_time import local_today
from common.request_lifecycle import NEEDS_COMPLETION, REASON_LONGEST
from gateway.console import CONTROL
from gateway.phones import to_e164
from storage import numbers
from storage.regions import RegionDirectory
from storage.vocab import DOC_TYPES, REQUEST_STATUSES

CSV_LONGEST = 120  # characters of one value (a pickup place is the longest)
DELIMITERS = ",;\t"
PREVIEW_ROWS = 10


@dataclass
class Row:
    line: int  # in the file; 1 is the header
    values: dict[str, str]
    problem: tuple[str, dict[str, str]] | None = None  # (key, params)
    checked: dict[str, Any] = field(default_factory=dict)  # add_request's arguments


def decode(raw: bytes) -> tuple[str, str]:
    """The text and the encoding it was read in: UTF-8 (a byte-order mark dropped), else
    Windows-1252 (Excel's "CSV" on an Indonesian or English Windows). Windows-1252 leaves five
    bytes undefined; a file holding them is read as Latin-1 rather than refused."""
    try:
        return raw.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "Latin-1"


def delimiter_of(text: str) -> str:
    """Comma, semicolon or tab: csv.Sniffer on the first lines; if it cannot tell, the one the
    header line holds most of (a one-column file: a comma)."""
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = sample.split("\n", 1)[0]
        return max(DELIMITERS, key=lambda d: (header.count(d), d == ","))


def read(text: str, delimiter: str) -> list[Row]:
    rows = []
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    for line, raw_row in enumerate(reader, start=2):  # line 1: the header
        values = {
            (k or "").strip().lower(): " ".join(v) if isinstance(v, list) else (v or "").strip()
            for k, v in raw_row.items()
        }
        rows.append(Row(line, values))
    return rows


def check(row: Row, regions: RegionDirectory) -> Row:
    """Fill ``row.checked`` (the arguments of ``staff_actions.add_request``) or ``row.problem``.
    What only the database knows (a number already in use) is found when the row is written."""
    v = row.values

    def refuse(key: str, **params: str) -> Row:
        row.problem = (key, params)
        return row

    if any(len(x) > CSV_LONGEST or CONTROL.search(x) for x in v.values()):
        return refuse(
            "A value is longer than {n} characters or holds control characters.",
            n=str(CSV_LONGEST),
        )
    doc_type = v.get("type", "")
    if doc_type not in DOC_TYPES:
        return refuse("Unknown document type: {value}", value=doc_type)
    phone = to_e164(v.get("phone", ""))
    if phone is None:
        return refuse("Not a phone number: {value}", value=v.get("phone", ""))
    year = v.get("birth_year", "")
    if not re.fullmatch(r"\d{4}", year) or not 1900 <= int(year) <= local_today().year:
        return refuse("The birth year is not a year: {value}", value=v.get("birth_year", ""))
    wanted = v.get("village", "")
    try:
        village = regions.find_village(wanted)
    except ValueError:
        same_name = [p for p in regions.villages if p.name.casefold() == wanted.casefold()]
        if same_name:
            return refuse("'{value}' names more than one village; use its code.", value=wanted)
        return refuse("No village with the code or name '{value}'.", value=wanted)
    status = v.get("status") or "submitted"
    if status not in REQUEST_STATUSES:
        return refuse("Unknown status: {status}", status=status)
    reason = " ".join(v.get("reason", "").split()) or None
    if reason is not None and len(reason) > REASON_LONGEST:
        return refuse("The reason is longer than {n} characters.", n=str(REASON_LONGEST))
    if status == NEEDS_COMPLETION and reason is None:
        return refuse("Say what is missing (the resident is told).")
    number = v.get("number") or None
    if number is not None and not numbers.is_well_formed(number):
        return refuse("Not a valid request number: {value}", value=number[:20])
    row.checked = {
        "doc_type": doc_type,
        "phone": phone,
        "birth_year": int(v["birth_year"]),
        "village_code": village.code,
        "status": status,
        "number": number,
        "pickup_place": v.get("pickup") or None,
        "status_reason": reason,
    }
    return row
