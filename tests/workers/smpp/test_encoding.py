"""Texts as submit_sm fields: GSM 03.38 or UCS-2, split the way the console counts and prices
them (common/segments.py), packed or not, UDH or message_payload."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.segments import count_segments
from workers.smpp.encoding import (
    DATA_CODING_GSM,
    DATA_CODING_UCS2,
    ESM_UDHI,
    GSM_BASIC,
    GSM_EXTENSION,
    decode,
    encode,
    gsm_decode,
    pack_septets,
    unpack_septets,
)

GSM_TEXT = st.text(
    alphabet=st.sampled_from(sorted(set(GSM_BASIC) - {"\x1b"} | set(GSM_EXTENSION))), max_size=600
)


def reassemble(text: str, **options: object) -> tuple[str, int]:
    submits = encode(text, **options)  # type: ignore[arg-type]
    body = b""
    for s in submits:
        data = s.short_message
        if s.esm_class & ESM_UDHI:
            assert data[:3] == b"\x05\x00\x03" and data[4] == len(submits)
            data = data[6:]
        body += data if s.message_payload is None else s.message_payload
    coding = submits[0].data_coding
    return (body.decode("utf-16-be") if coding == DATA_CODING_UCS2 else gsm_decode(body)), len(
        submits
    )


def test_a_short_gsm_text_is_one_unpacked_submit() -> None:
    [submit] = encode("Jadwal Desa Tembok: Kamis 3 Des, 09:00 di Balai Desa.")
    assert (submit.data_coding, submit.esm_class, submit.message_payload) == (
        DATA_CODING_GSM,
        0,
        None,
    )
    assert submit.short_message == b"Jadwal Desa Tembok: Kamis 3 Des, 09:00 di Balai Desa."


def test_extension_characters_are_escaped() -> None:
    [submit] = encode("[a]€")
    assert submit.short_message == b"\x1b\x3ca\x1b\x3e\x1b\x65"
    assert gsm_decode(submit.short_message) == "[a]€"


def test_anything_outside_gsm_is_ucs2() -> None:
    [submit] = encode("Om Swastiastu 🙏")
    assert submit.data_coding == DATA_CODING_UCS2
    assert submit.short_message == "Om Swastiastu 🙏".encode("utf-16-be")


def test_a_three_part_message_has_a_concatenation_header_with_one_reference() -> None:
    text = "Petugas Disdukcapil datang ke Desa Tembok. " * 9  # 387 characters
    assert count_segments(text).segments == 3
    submits = encode(text, reference=200)
    assert [s.short_message[:6] for s in submits] == [
        bytes([5, 0, 3, 200, 3, n]) for n in (1, 2, 3)
    ]
    assert all(s.esm_class == ESM_UDHI for s in submits)
    assert [len(s.short_message) - 6 for s in submits] == [153, 153, 81]
    assert reassemble(text) == (text, 3)


def test_message_payload_carries_the_whole_text_in_one_submit() -> None:
    text = "Ibu/Bapak yang terhormat, " * 20
    [submit] = encode(text, split="payload")
    assert submit.short_message == b"" and submit.esm_class == 0
    assert submit.message_payload is not None and gsm_decode(submit.message_payload) == text


def test_packing_round_trips_with_and_without_fill_bits() -> None:
    values = [0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x7F, 0x00, 0x01]
    assert pack_septets([0x68, 0x65, 0x6C, 0x6C, 0x6F]) == bytes.fromhex("E8329BFD06")  # "hello"
    for fill in (0, 1, 3):
        assert unpack_septets(pack_septets(values, fill), len(values), fill) == values
    # 160 septets fit 140 octets
    assert len(pack_septets([0x41] * 160)) == 140


def test_packed_parts_fit_140_octets() -> None:
    submits = encode("a" * 400, packed=True)
    assert len(submits) == 3
    assert all(len(s.short_message) <= 140 for s in submits)
    body = submits[0].short_message[6:]
    assert unpack_septets(body, 153, 1) == [0x61] * 153


@given(GSM_TEXT)
def test_gsm_texts_split_as_the_console_counts_them(text: str) -> None:
    got, submits = reassemble(text)
    assert got == text
    assert submits == count_segments(text).segments


@given(st.text(max_size=300).filter(lambda t: count_segments(t).encoding == "UCS-2"))
def test_ucs2_texts_split_as_the_console_counts_them_and_never_cut_a_pair(text: str) -> None:
    got, submits = reassemble(text)
    assert got == text
    assert submits == count_segments(text).segments


@pytest.mark.parametrize(
    ("coding", "data", "text"),
    [(0, b"JADWAL Tembok", "JADWAL Tembok"), (8, "Halo 🙂".encode("utf-16-be"), "Halo 🙂")],
)
def test_an_inbound_text_is_decoded(coding: int, data: bytes, text: str) -> None:
    assert decode(data, coding) == (text, b"")
    assert decode(bytes([5, 0, 3, 1, 2, 1]) + data, coding, udhi=True) == (
        text,
        bytes([5, 0, 3, 1, 2, 1]),
    )
