"""common/privacy.py: phone numbers masked wherever they are logged, and common/text_checks.py:
the control-character check every webhook field and console parameter goes through."""

from __future__ import annotations

import logging

import pytest

from common.privacy import install_log_masking, mask_phone, mask_phones
from common.text_checks import has_control_characters


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+6281299990003", "+62812****0003"),
        ("+628129999000312", "+62812****0312"),  # longer numbers keep the same shape
        ("+14155552671", "+1415****2671"),  # a one-digit country code
        ("+6221555123", "+62215****5123"),
        ("081299990003", "0812****0003"),
        ("6281299990003", "+62812****0003"),
        ("12345", "****45"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_phone(phone: str | None, masked: str) -> None:
    assert mask_phone(phone) == masked


def test_mask_phones_in_text() -> None:
    assert mask_phones("to +6281299990003 and 081299990004, id 20000013") == (
        "to +62812****0003 and 0812****0004, id 20000013"
    )
    assert mask_phones("DETAIL:  Key (phone)=(+6281299990003) already exists.") == (
        "DETAIL:  Key (phone)=(+62812****0003) already exists."
    )
    assert mask_phones("nothing here") == "nothing here"


def test_log_records_are_masked_whoever_logs_them(caplog: pytest.LogCaptureFixture) -> None:
    install_log_masking()
    install_log_masking()  # idempotent
    some_library = logging.getLogger("some.library")
    with caplog.at_level(logging.INFO):
        some_library.info("sent to %s", "+6281299990003")
        some_library.info("plain %s", "text")
        try:
            raise ValueError("Key (phone)=(+6281299990004) already exists")
        except ValueError:
            some_library.exception("insert failed for %s", "081299990005")
    assert "+62812****0003" in caplog.text
    assert "0812****0005" in caplog.text and "+62812****0004" in caplog.text
    for number in ("6281299990003", "6281299990004", "81299990005"):
        assert number not in caplog.text
    plain = next(r for r in caplog.records if "plain" in r.getMessage())
    assert (plain.msg, plain.args) == ("plain %s", ("text",))  # untouched when nothing to mask


@pytest.mark.parametrize(
    ("text", "allow", "found"),
    [
        ("ATXid_1", "", False),
        ("Halo 🙂 ẞ \u200d", "", False),  # a zero-width joiner is a format character
        ("a\x00b", "", True),
        ("a\x7fb", "", True),
        ("a\x85b", "", True),  # C1
        ("line\nnext", "", True),
        ("line\nnext\r\n\t", "\n\r\t", False),
        ("line\n\x00", "\n", True),
        ("", "", False),
    ],
)
def test_control_characters(text: str, allow: str, found: bool) -> None:
    assert has_control_characters(text, allow) is found
