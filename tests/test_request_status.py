"""A request's status in words (flows/request_status.py): the USSD screens, the STATUS reply and
the SMS staff's change sends say the same words, in every language."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from flows import request_status
from flows.catalog import load_catalogs
from flows.services import RequestView
from storage.vocab import REQUEST_STATUSES

CATALOGS = load_catalogs()


def _request(status: str, pickup_place: str | None = "Kantor Desa Tembok") -> RequestView:
    return RequestView(
        number="12345678",
        doc_type="ktp",
        status=status,
        updated=dt.date(2030, 5, 1),
        pickup_place=pickup_place,
        owned_by_caller=True,
    )


@pytest.mark.parametrize("language", sorted(CATALOGS))
@pytest.mark.parametrize("status", REQUEST_STATUSES)
def test_every_channel_says_the_same_status(language: str, status: str) -> None:
    c = CATALOGS[language]
    label = c.text(f"request_status.{status}")
    request = _request(status)
    assert request_status.screen_vars(c, request)["status_label"] == label
    assert label in request_status.reply_sms(c, request)
    assert label in request_status.changed_sms(c, request)
    assert request_status.changed_sms(c, request).count("12345678") == 1  # the whole number
    assert "..5678" in request_status.reply_sms(c, request)  # its last four digits


def test_where_to_collect_is_said_when_it_is_known() -> None:
    c = CATALOGS["en"]
    ready = _request("ready")
    assert request_status.screen_vars(c, ready)["pickup_line"] == "Collect at: Kantor Desa Tembok"
    assert request_status.reply_sms(c, ready).endswith(" Collect at Kantor Desa Tembok.")
    assert request_status.changed_sms(c, ready).endswith(" Collect at Kantor Desa Tembok.")
    unknown = _request("ready", pickup_place=None)
    assert request_status.screen_vars(c, unknown)["pickup_line"] == c.text("status.pickup_unknown")
    assert request_status.reply_sms(c, unknown).endswith(".")
    collected = _request("collected")
    assert request_status.screen_vars(c, collected)["pickup_line"] == (
        "Collect at: Kantor Desa Tembok"
    )  # the screen says where it was collected; the SMS does not
    assert "Kantor" not in request_status.reply_sms(c, collected)
    assert request_status.screen_vars(c, _request("processing"))["pickup_line"] == ""


@pytest.mark.parametrize(
    ("language", "listed", "own"),
    [
        ("id", "Alasan: KK belum dibawa", "Alasan: surat pengantar desa"),
        ("en", "Reason: family card (KK) not brought", "Reason: surat pengantar desa"),
    ],
)
def test_the_reason_for_perlu_dilengkapi_is_said_everywhere(
    language: str, listed: str, own: str
) -> None:
    """A listed reason in the reader's language, the staff's own words as typed: on the
    screen, in the STATUS reply and in the SMS of the change; one segment each."""
    c = CATALOGS[language]
    for reason, said in (("kk", listed), ("surat pengantar desa", own)):
        request = dataclasses.replace(_request("rejected", None), reason=reason)
        assert request_status.screen_vars(c, request)["pickup_line"] == said
        assert request_status.reply_sms(c, request).endswith(f" {said}.")
        assert request_status.changed_sms(c, request).endswith(f" {said}.")
        corrected = request_status.changed_sms(c, request, "sms.status_corrected")
        assert corrected.endswith(f" {said}.") and len(corrected) <= 160
    registered = request_status.registered_sms(c, _request("submitted"), "*123#")
    assert "12345678" in registered and "*123#" in registered


def test_a_ready_document_says_the_hours_and_what_to_bring() -> None:
    """Issue 11: "Siap diambil" with the office hours and what to bring for its type (the
    settings), on the screen and in both SMS; other statuses, or no settings, say nothing more."""
    from common.office import Office
    from common.segments import count_segments

    office = Office(
        hours={"id": "Sen-Jum 08.00-15.00", "en": "Mon-Fri 08:00-15:00"},
        pickup_bring={"ktp": {"id": "tanda terima, KTP lama", "en": "receipt, old ID card"}},
    )
    c = CATALOGS["id"]
    ready = _request("ready")
    assert request_status.screen_vars(c, ready, office=office)["collect_line"] == (
        "Sen-Jum 08.00-15.00. Bawa: tanda terima, KTP lama."
    )
    sms = request_status.changed_sms(c, ready, office=office)
    assert sms.endswith(
        " Ambil di Kantor Desa Tembok. Sen-Jum 08.00-15.00. Bawa: tanda terima, KTP lama."
    )
    assert count_segments(sms).segments == 1
    assert request_status.reply_sms(CATALOGS["en"], ready, office=office).endswith(
        " Collect at Kantor Desa Tembok. Mon-Fri 08:00-15:00. Bring: receipt, old ID card."
    )
    only_hours = Office(hours="08.00-15.00")  # no list for this type: the hours alone
    assert request_status.screen_vars(c, ready, office=only_hours)["collect_line"] == "08.00-15.00."
    for other in ("submitted", "processing", "collected", "rejected"):
        assert request_status.screen_vars(c, _request(other), office=office)["collect_line"] == ""
    assert request_status.screen_vars(c, ready, office=Office())["collect_line"] == ""
