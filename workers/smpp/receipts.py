"""What a deliver_sm carries: a delivery receipt (``esm_class`` bit 0x04) or a resident's SMS.

A receipt's text is ``id:… sub:… dlvrd:… submit date:… done date:… stat:DELIVRD err:… text:…``
(SMPP 3.4 appendix B); the ``receipted_message_id`` and ``message_state`` TLVs, when present,
win over the text. Its state is told in Africa's Talking's words, so the outbox applies it with
the same code (storage/outbox/reports.py): final states are never undone, reports may come
twice, late, or before the send call returned.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from storage import outbox
from storage.db import Database
from storage.models import utcnow
from workers.providers import DeliveryReport, InboundSms
from workers.smpp.encoding import decode

RECEIPT_BIT = 0x04
UDHI_BIT = 0x40
INTERNATIONAL = 0x01

# The receipt's stat: word, and the message_state TLV's values, in AT's vocabulary.
STATES = {
    "DELIVRD": "Success",
    "UNDELIV": "Failed",
    "EXPIRED": "Expired",
    "REJECTD": "Rejected",
    "DELETED": "Failed",
    "ACCEPTD": "Submitted",
    "ENROUTE": "Buffered",
    "UNKNOWN": "Buffered",
}
MESSAGE_STATES = {
    1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED",
    5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD",
}  # fmt: skip
_FIELD = re.compile(r"(id|stat|err):(\S*)", re.IGNORECASE)


def is_receipt(pdu: Any) -> bool:
    return bool((pdu.esm_class or 0) & RECEIPT_BIT)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value or "")


def parse_receipt(pdu: Any, *, decimal_ids: bool = False) -> DeliveryReport:
    """A receipt deliver_sm as a delivery report; ValueError if it names no message or state.

    ``decimal_ids`` (SMPP_RECEIPT_IDS_DECIMAL): the SMSC writes the id in the receipt's text in
    decimal while its submit_sm_resp gave it in hexadecimal, as some do. The text's id is then
    turned into hexadecimal, and every id is lower-cased (as the bind records the
    submit_sm_resp ids then), so that the receipt finds its message; the
    ``receipted_message_id`` TLV is the submit_sm_resp's id by the specification."""
    body = pdu.short_message or getattr(pdu, "message_payload", None) or b""
    found = {k.lower(): v for k, v in _FIELD.findall(_text(body))}
    message_id = _text(getattr(pdu, "receipted_message_id", None)).strip("\0 ")
    if not message_id:
        message_id = found.get("id", "")
        if decimal_ids and message_id.isdigit():
            message_id = format(int(message_id), "x")
    if decimal_ids:
        message_id = message_id.lower()
    state = (
        MESSAGE_STATES.get(getattr(pdu, "message_state", None) or 0)
        or found.get("stat", "").upper()
    )
    if not message_id or state not in STATES or len(message_id) > 64:
        raise ValueError("a delivery receipt needs id and a known stat")
    status = STATES[state]
    error = found.get("err", "")
    reason = None
    if status not in ("Success", "Submitted", "Buffered"):
        reason = f"{state} err:{error}" if error and error.strip("0") else state
    return DeliveryReport(message_id=message_id, status=status, phone=None, failure_reason=reason)


@dataclass(frozen=True)
class Part:
    """A segment of a resident's long SMS (concatenation UDH, 8- or 16-bit reference)."""

    reference: int
    total: int
    number: int


def concatenation(udh: bytes) -> Part | None:
    position = 1  # after the UDH length octet
    while position + 1 < len(udh):
        iei, length = udh[position], udh[position + 1]
        data = udh[position + 2 : position + 2 + length]
        if iei == 0x00 and length == 3:
            return Part(data[0], data[1], data[2])
        if iei == 0x08 and length == 4:
            return Part(data[0] << 8 | data[1], data[2], data[3])
        position += 2 + length
    return None


def parse_inbound(pdu: Any) -> tuple[InboundSms, Part | None]:
    """A resident's SMS (or a segment of one). deliver_sm carries no message id of its own: one
    is made up, so the inbound handling's duplicate check holds within this delivery only."""
    sender = _text(pdu.source_addr)
    if pdu.source_addr_ton == INTERNATIONAL and sender and not sender.startswith("+"):
        sender = "+" + sender
    data = pdu.short_message or getattr(pdu, "message_payload", None) or b""
    text, udh = decode(data, pdu.data_coding or 0, udhi=bool((pdu.esm_class or 0) & UDHI_BIT))
    if not sender:
        raise ValueError("a deliver_sm needs source_addr")
    message = InboundSms(
        message_id=f"smpp-{uuid.uuid4().hex}",
        sender=sender,
        to=_text(pdu.destination_addr),
        text=text,
        link_id=None,
    )
    part = concatenation(udh) if udh else None
    if part is None and getattr(pdu, "sar_total_segments", None):
        # Segmented by the SAR TLVs instead of a header in the text (some SMSCs do that).
        part = Part(
            int(getattr(pdu, "sar_msg_ref_num", None) or 0),
            int(pdu.sar_total_segments),
            int(getattr(pdu, "sar_segment_seqnum", None) or 0),
        )
    if part is not None and not 1 <= part.number <= part.total:
        part = None
    return message, part if part is not None and part.total > 1 else None


def record_receipt(db: Database, report: DeliveryReport) -> str:
    """Through the same code as Africa's Talking's /sms/delivery: "applied", "duplicate" or
    "pending" (the worker has not committed the message id yet: applied when it does)."""
    with db.begin() as session:
        return outbox.record_delivery_report(
            session,
            provider_id=report.message_id,
            status=report.status,
            failure_reason=report.failure_reason,
            phone=None,
            now=utcnow(),
        )
