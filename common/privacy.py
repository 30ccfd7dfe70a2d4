"""Personal data kept out of the logs.

A phone number is logged masked, ``+62812****0003``: the country code, the next three digits
(the operator's prefix, useful when a network misbehaves) and the last four (enough for staff
to tell two callers apart); never the whole number. ``mask_phone`` is what code that logs a
phone calls; ``install_log_masking`` is the net under it: every log record of the process --
ours, SQLAlchemy's, a driver's error text (PostgreSQL's ``DETAIL: Key (phone)=(...)``), a
traceback -- has phone numbers masked before any handler sees it.

Birth years and ID numbers are never logged by this code; SQL parameters are hidden by the
engines (``hide_parameters``, storage/db.py).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

HIDDEN = "****"

# "+6281299990003" (E.164, as stored), and the same number without its plus as a network or
# a person may write it: "6281299990003", "081299990003".
_E164 = re.compile(r"\+\d{8,15}(?!\d)")
_LOCAL = re.compile(r"(?<![\d+])(?:62|0)8\d{7,12}(?!\d)")


def _country_code(digits: str) -> str:
    for length in (1, 2, 3):  # country codes are prefix-free
        if int(digits[:length]) in COUNTRY_CODE_TO_REGION_CODE:
            return digits[:length]
    return digits[:2]


def mask_phone(phone: str | None) -> str:
    """``+6281299990003`` → ``+62812****0003``; a local spelling keeps its first four digits
    and the last four (``0812****0003``). Too short to be a phone number: all but the last two
    hidden."""
    if not phone:
        return ""
    text = str(phone).strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.startswith("+") and len(digits) >= 9:
        keep = len(_country_code(digits)) + 3
        return f"+{digits[:keep]}{HIDDEN}{digits[-4:]}"
    if len(digits) >= 9:
        if digits.startswith("62"):
            return f"+{digits[:5]}{HIDDEN}{digits[-4:]}"
        return f"{digits[:4]}{HIDDEN}{digits[-4:]}"
    return f"{HIDDEN}{digits[-2:]}"


def mask_phones(text: str) -> str:
    """``text`` with every phone number in it masked."""
    if not any(ch.isdigit() for ch in text):
        return text
    text = _E164.sub(lambda m: mask_phone(m.group()), text)
    return _LOCAL.sub(lambda m: mask_phone(m.group()), text)


_installed = False
_install_lock = threading.Lock()
_formatter = logging.Formatter()


def _mask_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it at emit, as it would have
        return
    masked = mask_phones(message)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and record.exc_info[0] is not None:
        trace = _formatter.formatException(record.exc_info)
        masked_trace = mask_phones(trace)
        if masked_trace != trace:
            record.exc_text = masked_trace  # formatters use exc_text when it is set
    if record.stack_info:
        record.stack_info = mask_phones(record.stack_info)


def install_log_masking() -> None:
    """Mask phone numbers in every log record this process makes from now on (idempotent).
    Records are masked when they are made, so every handler -- gunicorn's, RQ's, a test's --
    gets the masked text. Only records of enabled levels are made, so the cost is one regular
    expression per line actually logged."""
    global _installed
    with _install_lock:
        if _installed:
            return
        make = logging.getLogRecordFactory()

        def masking_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make(*args, **kwargs)
            _mask_record(record)
            return record

        logging.setLogRecordFactory(masking_factory)
        _installed = True
