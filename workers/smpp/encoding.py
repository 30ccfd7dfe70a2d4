"""A text as submit_sm fields: GSM 03.38 (``data_coding=0``, one septet per byte, or packed)
when every character is in the GSM alphabet, else UCS-2 (``data_coding=8``, UTF-16BE). Long
texts are split with a concatenation UDH (8-bit reference) or sent whole in
``message_payload``. The split is the one ``common/segments.py`` counts for the console, so
staff see the number of submits (and their cost) before sending."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from common.segments import count_segments

DATA_CODING_GSM = 0x00
DATA_CODING_UCS2 = 0x08
ESM_UDHI = 0x40

# GSM 03.38 default alphabet: the character at each septet value, and the escaped extension.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = {
    "\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F,
    "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65,
}  # fmt: skip
ESCAPE = 0x1B
_BASIC_INDEX = {ch: i for i, ch in enumerate(GSM_BASIC) if ch != "\x1b"}

SINGLE = {"GSM-7": 160, "UCS-2": 70}
PART = {"GSM-7": 153, "UCS-2": 67}

Split = Literal["udh", "payload"]


@dataclass(frozen=True)
class Submit:
    """The fields of one submit_sm that carry the text."""

    data_coding: int
    esm_class: int = 0
    short_message: bytes = b""
    message_payload: bytes | None = None

    def as_kwargs(self) -> dict[str, Any]:
        values: dict[str, Any] = {"data_coding": self.data_coding, "esm_class": self.esm_class}
        if self.message_payload is not None:
            values["message_payload"] = self.message_payload
        else:
            values["short_message"] = self.short_message
        return values


def septets(text: str) -> list[list[int]]:
    """The GSM septets of each character (an extension character is two)."""
    out = []
    for ch in text:
        if ch in GSM_EXTENSION:
            out.append([ESCAPE, GSM_EXTENSION[ch]])
        else:
            out.append([_BASIC_INDEX[ch]])
    return out


def gsm_decode(data: bytes) -> str:
    """Unpacked GSM 03.38 septets (one per byte) as text; unknown values become '?'."""
    reverse = {v: k for k, v in GSM_EXTENSION.items()}
    text, escaped = [], False
    for value in data:
        if escaped:
            text.append(reverse.get(value, "?"))
            escaped = False
        elif value == ESCAPE:
            escaped = True
        else:
            text.append(GSM_BASIC[value & 0x7F])
    return "".join(text)


def pack_septets(values: list[int], fill_bits: int = 0) -> bytes:
    """GSM 03.38 packing: septets into octets, least significant bit first, after
    ``fill_bits`` zero bits (which align the text after a UDH on a septet boundary)."""
    acc = 0
    for i, value in enumerate(values):
        acc |= (value & 0x7F) << (fill_bits + 7 * i)
    size = (fill_bits + 7 * len(values) + 7) // 8
    return acc.to_bytes(size, "little")


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    acc = int.from_bytes(data, "little") >> fill_bits
    return [(acc >> (7 * i)) & 0x7F for i in range(count)]


def _units(text: str, encoding: str) -> list[bytes]:
    """Each character's bytes as submitted (unpacked GSM septets, or UTF-16BE)."""
    if encoding == "GSM-7":
        return [bytes(s) for s in septets(text)]
    return [ch.encode("utf-16-be") for ch in text]


def _split(units: list[bytes], part_units: int, unit_size: int) -> list[bytes]:
    """As phones and common/segments.py split: an escape or surrogate pair never cut."""
    parts: list[bytes] = []
    current, used = b"", 0
    for unit in units:
        size = len(unit) // unit_size
        if used + size > part_units:
            parts.append(current)
            current, used = b"", 0
        current += unit
        used += size
    parts.append(current)
    return parts


def encode(
    text: str, *, split: Split = "udh", packed: bool = False, reference: int = 0
) -> list[Submit]:
    """The submit_sm fields for ``text``: one Submit per segment (``split="udh"``), or one
    with the whole text in ``message_payload`` (``split="payload"``: the SMSC splits it)."""
    count = count_segments(text)
    encoding = count.encoding
    coding = DATA_CODING_GSM if encoding == "GSM-7" else DATA_CODING_UCS2
    unit_size = 1 if encoding == "GSM-7" else 2
    units = _units(text, encoding)
    whole = b"".join(units)
    if count.segments == 1 or split == "payload":
        body = _pack(whole, 0) if packed and coding == DATA_CODING_GSM else whole
        if count.segments == 1:
            return [Submit(coding, short_message=body)]
        return [Submit(coding, message_payload=body)]
    parts = _split(units, PART[encoding], unit_size)
    assert len(parts) == count.segments, (len(parts), count)
    total = len(parts)
    submits = []
    for number, part in enumerate(parts, start=1):
        udh = bytes([0x05, 0x00, 0x03, reference & 0xFF, total, number])
        # After a 6-octet UDH (48 bits), one fill bit puts packed text on a septet boundary.
        body = _pack(part, 1) if packed and coding == DATA_CODING_GSM else part
        submits.append(Submit(coding, ESM_UDHI, short_message=udh + body))
    return submits


def _pack(unpacked: bytes, fill_bits: int) -> bytes:
    return pack_septets(list(unpacked), fill_bits)


def decode(data: bytes, data_coding: int, *, udhi: bool = False) -> tuple[str, bytes]:
    """A deliver_sm's text (unpacked GSM, UCS-2 or Latin-1) and its UDH, if any."""
    udh = b""
    if udhi and data:
        udh, data = data[: data[0] + 1], data[data[0] + 1 :]
    if data_coding == DATA_CODING_UCS2:
        return data.decode("utf-16-be", errors="replace"), udh
    if data_coding in (0x03, 0x01):  # Latin-1, IA5/ASCII
        return data.decode("latin-1"), udh
    return gsm_decode(data), udh
