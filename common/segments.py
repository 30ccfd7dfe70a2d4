"""How many SMS segments a text costs (docs/product.md, "SMS").

GSM-7: 160 characters, 153 per part when split; ``^{}\\[~]|€`` (the extension table) count 2.
Any character outside GSM-7 turns the whole message into UCS-2: 70, 67 per part (characters
outside the Basic Multilingual Plane, such as emoji, take two UCS-2 units).
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # "GSM-7" | "UCS-2"
    units: int  # septets (GSM-7) or 16-bit units (UCS-2)
    segments: int


def count_segments(text: str) -> SegmentCount:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        sizes = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        single, part, encoding = 160, 153, "GSM-7"
    else:
        sizes = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        single, part, encoding = 70, 67, "UCS-2"
    units = sum(sizes)
    if units <= single:
        return SegmentCount(encoding, units, 1)
    # Split as phones do: an escape pair or a surrogate pair is never cut across two parts.
    segments, used = 1, 0
    for size in sizes:
        if used + size > part:
            segments, used = segments + 1, 0
        used += size
    return SegmentCount(encoding, units, segments)


def non_gsm_characters(text: str) -> list[str]:
    """The characters that force UCS-2, to show staff what to replace."""
    return sorted({ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION})
