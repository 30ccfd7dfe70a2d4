"""Phone numbers in E.164: ``0812…``, ``62812…`` and ``+62 812-…`` are the same person."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

DEFAULT_REGION = "ID"


@lru_cache(maxsize=65536)
def to_e164(raw: str) -> str | None:
    """The number in E.164, or None if it is not a valid phone number."""
    raw = raw.strip()
    if not raw or len(raw) > 32:
        return None
    if raw[0].isdigit() and raw.startswith("62") and len(raw) > 9:
        raw = "+" + raw  # "62812…" without the plus, as some gateways send it
    try:
        number = phonenumbers.parse(raw, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
