"""/voice end to end: a missed call is rejected and called back through the real SDK (against
the fake voice API), the call speaks the USSD menus as audio, and the keypad walks them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from common.local_time import local_today
from storage import queries
from storage.db import Database
from storage.models import ReminderSubscription, VoiceCall
from tests.fake_at_voice import FakeAtVoice
from tests.helpers import ME, TEMBOK, count
from tests.voice.helpers import VOICE_NUMBER, Call

MAIN_SPOKEN = [
    "Selamat datang di layanan Adminduk Buleleng.",
    "Adminduk Buleleng",
    "Untuk Cek status dokumen, tekan 1.",
    "Untuk Minta petugas ke rumah, tekan 2.",
    "Untuk Jadwal petugas ke desa, tekan 3.",
    "Untuk Layanan prioritas, tekan 4.",
    "Untuk Bahasa/Language, tekan 5.",
]


def _rows(db: Database) -> list[VoiceCall]:
    with db.begin() as session:
        rows = list(session.scalars(select(VoiceCall).order_by(VoiceCall.id)))
        session.expunge_all()
        return rows


def _add_visit(db: Database, days: int = 5) -> int:
    with db.begin() as session:
        visit = queries.add_visit(
            session,
            village_code=TEMBOK,
            visit_date=local_today() + dt.timedelta(days=days),
            start_time=dt.time(9),
            end_time=dt.time(14),
            place="Balai Desa",
            bring="KK asli dan KTP lama",
        )
        return visit.id


def test_missed_call_is_rejected_and_called_back_with_the_main_menu(
    call: Call, fake_voice: FakeAtVoice, db: Database
) -> None:
    reply = call.miss_call()
    assert reply is not None and [e.tag for e in reply] == ["Reject"]
    [row] = _rows(db)
    assert (row.phone, row.status) == (ME, "queued")
    assert fake_voice.calls == []  # placed by the job, not by the webhook

    call.place_calls()
    [placed] = fake_voice.calls
    assert (placed.caller_id, placed.to, placed.api_key) == (VOICE_NUMBER, ME, "voice-key")
    [row] = _rows(db)
    assert (row.status, row.session_id, row.attempts) == ("calling", placed.session_id, 1)

    menu = call.answer()
    digits = call.get_digits()
    assert digits.attrib["numDigits"] == "1" and digits.attrib["finishOnKey"] == "#"
    assert digits.attrib["callbackUrl"].startswith("https://gateway.test/voice?token=")
    assert [e.tag for e in menu] == ["GetDigits", "Redirect"]
    assert call.heard == MAIN_SPOKEN
    assert _rows(db)[0].status == "answered"


@pytest.mark.usefixtures("seeded")
def test_next_visit_by_keypad_and_remind_me(call: Call, db: Database) -> None:
    visit_id = _add_visit(db)
    call.miss_call()
    call.place_calls()
    call.answer()
    call.press("3")
    heard = " ".join(call.heard)
    assert "Petugas ke Desa Tembok:" in heard
    assert "Di Balai Desa" in heard
    assert "Untuk Ingatkan saya lewat SMS, tekan 1." in call.heard
    assert "Tekan 0 untuk kembali, atau bintang untuk menu utama." in call.heard
    end = call.press("1")
    assert end is not None and end.find("GetDigits") is None  # the call ends after it
    assert call.heard[-1] == "Terima kasih. Sampai jumpa."
    assert count(db, ReminderSubscription, visit_id=visit_id) == 1
    call.hang_up(seconds=37)
    [row] = _rows(db)
    assert (row.status, row.duration_seconds, row.amount, row.currency) == (
        "completed",
        37,
        "0.0500",
        "USD",
    )
    assert (row.journey, row.last_screen) == ("next_visit", "sm_reminded")
