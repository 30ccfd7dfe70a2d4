"""SMS segment counting (common/segments.py): GSM-7 and its extension table, UCS-2."""

from __future__ import annotations

import pytest

from common.segments import GSM7_BASIC, SegmentCount, count_segments, non_gsm_characters


def test_gsm7_basic_table_is_complete() -> None:
    assert len(GSM7_BASIC) == 127  # 128 positions less the escape


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SegmentCount("GSM-7", 0, 1)),
        ("a", SegmentCount("GSM-7", 1, 1)),
        ("a" * 160, SegmentCount("GSM-7", 160, 1)),
        ("a" * 161, SegmentCount("GSM-7", 161, 2)),
        ("a" * 306, SegmentCount("GSM-7", 306, 2)),
        ("a" * 307, SegmentCount("GSM-7", 307, 3)),
        ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\r\n", SegmentCount("GSM-7", 44, 1)),
        ("€" * 80, SegmentCount("GSM-7", 160, 1)),
        ("€" * 80 + "a", SegmentCount("GSM-7", 161, 2)),
        ("a" * 159 + "[", SegmentCount("GSM-7", 161, 2)),
        ("ê", SegmentCount("UCS-2", 1, 1)),
        ("ê" * 70, SegmentCount("UCS-2", 70, 1)),
        ("ê" * 71, SegmentCount("UCS-2", 71, 2)),
        ("ê" * 134, SegmentCount("UCS-2", 134, 2)),
        ("ê" * 135, SegmentCount("UCS-2", 135, 3)),
        ("a" * 100 + "ê", SegmentCount("UCS-2", 101, 2)),  # one character makes it all UCS-2
        ("€" * 69 + "ê", SegmentCount("UCS-2", 70, 1)),  # in UCS-2, € is one unit
        ("😀", SegmentCount("UCS-2", 2, 1)),
        ("😀" * 35, SegmentCount("UCS-2", 70, 1)),
        ("😀" * 35 + "a", SegmentCount("UCS-2", 71, 2)),
        ("\t", SegmentCount("UCS-2", 1, 1)),
        ("`", SegmentCount("UCS-2", 1, 1)),
    ],
)
def test_count_segments(text: str, expected: SegmentCount) -> None:
    assert count_segments(text) == expected


@pytest.mark.parametrize("char", list("^{}\\[~]|€"))
def test_extension_characters_count_two(char: str) -> None:
    assert count_segments(char) == SegmentCount("GSM-7", 2, 1)
    assert count_segments("a" * 158 + char) == SegmentCount("GSM-7", 160, 1)
    assert count_segments("a" * 159 + char) == SegmentCount("GSM-7", 161, 2)


def test_non_gsm_characters() -> None:
    assert non_gsm_characters("Halo, permohonan KK siap. €[]{}") == []
    assert non_gsm_characters("Café ê 😀 ê \u2019ñ\t") == ["\t", "ê", "\u2019", "😀"]
    assert non_gsm_characters("") == []
