"""/voice end to end: a missed call is rejected and called back through the real SDK (against
the fake voice API), the call speaks the USSD menus as audio, and the keypad walks them."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import select

from common.local_time import as_utc, local_today
from flows.voice import spoken_line
from gateway.runtime import runtime
from storage import queries
from storage.db import Database
from storage.models import OutboxMessage, ReminderSubscription, VoiceCall
from tests.fake_at_voice import FakeAtVoice
from tests.helpers import ME, TEMBOK, count
from tests.ussd.helpers import MY_KTP, NEIGHBOURS_ACTA
from tests.voice.helpers import VOICE_NUMBER, Call

MAIN_SPOKEN = [
    "Selamat datang di layanan Adminduk Buleleng.",
    "Adminduk Buleleng",
    "Untuk Cek status, tekan 1.",
    "Untuk Minta petugas ke rumah, tekan 2.",
    "Untuk Jadwal petugas ke desa, tekan 3.",
    "Untuk Layanan prioritas, tekan 4.",
    "Untuk Bahasa/Language, tekan 5.",
    "Untuk Hubungi kantor, tekan 6.",
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
    # the forms line (issue 11) moves the choices to the second page, as on the USSD screen
    assert "Untuk pilihan berikutnya, tekan 9 8." in call.heard
    call.press("98")
    assert any(line.startswith("Formulir & berkas ke kantor desa") for line in call.heard)
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


def _answered_call(call: Call) -> None:
    call.miss_call()
    call.place_calls()
    call.answer()


@pytest.mark.usefixtures("seeded")
def test_status_by_keypad_my_requests_and_another_number_with_the_birth_year(
    call: Call,
) -> None:
    _answered_call(call)
    call.press("1")
    assert call.heard[0] == "Dokumen Anda:"
    assert f"Untuk KTP-el berakhiran {' '.join(MY_KTP[-4:])} Siap diambil, tekan 2." in call.heard
    assert "Untuk Nomor lain, tekan 9." in call.heard
    call.press("2")
    heard = " ".join(call.heard)
    assert "Status: Siap diambil" in heard and "Kantor Desa Tembok" in heard
    call.press("*")  # star: the main menu
    assert call.heard[0] == "Adminduk Buleleng"
    call.press("1")
    call.press("9")
    digits = call.get_digits()
    assert (digits.attrib["numDigits"], digits.attrib["finishOnKey"]) == ("12", "#")
    assert call.heard[-1] == "Tekan angkanya satu per satu, lalu tanda pagar."
    call.press(NEIGHBOURS_ACTA + "#")
    assert call.heard[0].startswith("Nomor ini tidak terdaftar untuk HP ini.")
    call.press("1961#")
    heard = " ".join(call.heard)
    assert "Akta Kelahiran" in heard and "Status: Diterima" in heard
    call.press("0")  # back: the year question again, as on USSD
    assert call.heard[0].startswith("Nomor ini tidak terdaftar")


def test_back_and_home_keep_their_meaning(call: Call, db: Database) -> None:
    _add_visit(db)
    _answered_call(call)
    call.press("3")  # no village remembered: the district list
    assert call.heard[0] == "Pilih kecamatan:"
    assert call.get_digits().attrib["numDigits"] == "1"
    call.press("0")
    assert call.heard[0] == "Adminduk Buleleng"
    call.press("4")
    call.press("1")
    assert call.heard[0] == "Dokumen untuk apa?"
    call.press("*")
    assert call.heard[0] == "Adminduk Buleleng"


def test_priority_checklist_by_sms(call: Call, db: Database) -> None:
    _answered_call(call)
    call.press("4")
    call.press("1")
    call.press("1")
    call.press("1")
    assert call.heard[-1] == "Terima kasih. Sampai jumpa."
    assert count(db, OutboxMessage, recipient=ME, kind="reply") == 1


def test_silence_repeats_the_prompt_once_then_says_goodbye(call: Call) -> None:
    _answered_call(call)
    call.keep_silent()
    assert call.heard[0] == "Maaf, kami tidak mendengar pilihan Anda."
    assert call.heard[1:] == MAIN_SPOKEN
    end = call.keep_silent()
    assert end is not None and end.find("GetDigits") is None
    assert call.heard == ["Terima kasih. Sampai jumpa."]


def test_a_repeated_callback_gets_the_same_answer(call: Call) -> None:
    _answered_call(call)
    url = call.get_digits().attrib["callbackUrl"]
    first = call.post(url, **call._fields(dtmfDigits="4"))[2]
    again = call.post(url, **call._fields(dtmfDigits="4"))[2]
    assert again == first  # not advanced twice


def test_hang_up_mid_journey_is_recorded(call: Call, db: Database) -> None:
    _add_visit(db)
    _answered_call(call)
    call.press("3")
    reply = call.hang_up(seconds=12)
    assert reply is not None and len(reply) == 0  # <Response/>
    [row] = _rows(db)
    assert (row.status, row.duration_seconds, row.hangup_cause) == (
        "completed",
        12,
        "NORMAL_CLEARING",
    )
    assert (row.journey, row.last_screen) == ("next_visit", "pick_district")
    status, root, _ = call.post(**call._fields(dtmfDigits="1"))
    assert status == 200 and root is not None and len(root) == 0  # the call is over


def test_a_call_not_answered_is_tried_once_more_then_given_up(
    call: Call, db: Database, fake_voice: FakeAtVoice
) -> None:
    call.miss_call()
    call.place_calls()
    call.session_id = str(fake_voice.calls[-1].session_id)
    call.hang_up(seconds=0, **{})  # the final notification, never answered
    [row] = _rows(db)
    assert (row.status, row.attempts) == ("queued", 1)
    assert as_utc(row.due_at) > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=4)
    call.place_calls()
    assert len(fake_voice.calls) == 1  # not yet: a few minutes on
    with db.begin() as session:
        session.get(VoiceCall, row.id).due_at = dt.datetime.now(dt.UTC)  # type: ignore[union-attr]
    call.place_calls()
    assert len(fake_voice.calls) == 2
    call.session_id = str(fake_voice.calls[-1].session_id)
    call.hang_up(seconds=0)
    [row] = _rows(db)
    assert (row.status, row.attempts) == ("no_answer", 2)


def test_a_number_the_provider_refuses_is_retried_once(
    call: Call, db: Database, fake_voice: FakeAtVoice
) -> None:
    fake_voice.set_status(ME, "InvalidPhoneNumber")
    call.miss_call()
    call.place_calls()
    [row] = _rows(db)
    assert (row.status, row.last_error) == ("queued", "InvalidPhoneNumber")


def test_provider_outage_keeps_the_call_owed(
    call: Call, db: Database, fake_voice: FakeAtVoice
) -> None:
    from workers.providers.voice import VoiceError

    fake_voice.outage(503)
    call.miss_call()
    with pytest.raises(VoiceError):
        call.place_calls()
    [row] = _rows(db)
    assert (row.status, row.attempts) == ("queued", 0)
    assert as_utc(row.due_at) > dt.datetime.now(dt.UTC)


def test_the_same_missed_call_twice_queues_one_call_back(call: Call, db: Database) -> None:
    fields = {
        "isActive": 1,
        "sessionId": "ATVId_in_same",
        "direction": "Inbound",
        "callerNumber": ME,
        "destinationNumber": VOICE_NUMBER,
    }
    call.post(**fields)
    call.post(**fields)
    call.miss_call()  # another missed call while the first is owed: still one
    assert len(_rows(db)) == 1


def test_callbacks_per_day_are_capped(call: Call, db: Database, app: Flask) -> None:
    app.config["VOICE_CALLBACKS_PER_DAY"] = 2
    for _ in range(3):
        reply = call.miss_call()
        assert reply is not None and [e.tag for e in reply] == ["Reject"]
        with db.begin() as session:  # each call back done before the next missed call
            for row in session.scalars(select(VoiceCall)):
                row.status = "completed"
    assert len(_rows(db)) == 2


def test_final_notification_of_the_rejected_call_touches_no_call_back(
    call: Call, db: Database, fake_voice: FakeAtVoice
) -> None:
    call.miss_call()
    call.place_calls()
    status, root, _ = call.post(
        isActive=0,
        sessionId="ATVId_in_other",
        direction="Inbound",
        callerNumber=ME,
        destinationNumber=VOICE_NUMBER,
        durationInSeconds=0,
        hangupCause="CALL_REJECTED",
    )
    assert status == 200 and root is not None and len(root) == 0
    assert _rows(db)[0].status == "calling"


def test_unknown_session_is_refused(call: Call) -> None:
    status, _, body = call.post(
        isActive=1,
        sessionId="ATVId_nobody",
        direction="Outbound",
        callerNumber=VOICE_NUMBER,
        destinationNumber="+6281299990077",
    )
    assert status == 404, body
    status, _, _ = call.post(
        isActive=1,
        sessionId="ATVId_nobody",
        direction="Outbound",
        callerNumber=VOICE_NUMBER,
        destinationNumber="+6281299990077",
        dtmfDigits="1",
    )
    assert status == 404


GOOD = {
    "isActive": "1",
    "sessionId": "ATVId_x",
    "direction": "Inbound",
    "callerNumber": ME,
    "destinationNumber": VOICE_NUMBER,
}


@pytest.mark.parametrize(
    "change",
    [
        {"dtmfDigits": "12a"},
        {"dtmfDigits": "1" * 500},
        {"dtmfDigits": "1\x00"},
        {"sessionId": None},
        {"isActive": None},
        {"isActive": "2"},
        {"direction": "Sideways"},
        {"direction": None},
        {"callerNumber": "not a number"},
        {"callerNumber": None},
        {"durationInSeconds": "-1", "isActive": "0"},
        {"sessionId": "x" * 500},
    ],
)
def test_bad_fields_answer_400(call: Call, change: dict[str, str | None]) -> None:
    fields = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    status, _, body = call.post(**fields)
    assert status == 400, body


def test_without_the_token_403(app: Flask) -> None:
    response = app.test_client().post("/voice", data=GOOD)
    assert response.status_code == 403


def test_audio_names_that_are_not_ours_404(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/voice/audio/" + "0" * 32 + ".wav").status_code == 404
    assert client.get("/voice/audio/..%2F..%2Fetc%2Fpasswd.wav").status_code == 404


@pytest.fixture
def quiet_now(voice_settings: dict[str, object]) -> None:
    from common.local_time import LOCAL_TZ

    now = dt.datetime.now(LOCAL_TZ)
    start, end = now - dt.timedelta(hours=1), now + dt.timedelta(hours=2)
    voice_settings["SMS_QUIET_HOURS"] = [start.strftime("%H:%M"), end.strftime("%H:%M")]


@pytest.mark.usefixtures("quiet_now")
def test_quiet_hours_no_call_but_an_sms_saying_when(
    call: Call, db: Database, fake_voice: FakeAtVoice
) -> None:
    reply = call.miss_call()
    assert reply is not None and [e.tag for e in reply] == ["Reject"]
    [row] = _rows(db)
    assert row.status == "queued" and as_utc(row.due_at) > dt.datetime.now(dt.UTC) + dt.timedelta(
        hours=1
    )
    with db.begin() as session:
        [sms] = session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == ME))
        assert sms.urgent and "Kami telepon kembali pukul" in sms.body
    call.place_calls()
    assert fake_voice.calls == []


def test_inbound_sms_mode_rejects_and_texts_the_help(
    call: Call, db: Database, app: Flask, fake_voice: FakeAtVoice
) -> None:
    app.config["VOICE_INBOUND"] = "sms"
    reply = call.miss_call()
    assert reply is not None and [e.tag for e in reply] == ["Reject"]
    assert _rows(db) == [] and count(db, OutboxMessage, recipient=ME) == 1


def test_inbound_answer_mode_speaks_the_menu_at_once(call: Call, app: Flask) -> None:
    app.config["VOICE_INBOUND"] = "answer"
    call.miss_call()
    assert call.heard == MAIN_SPOKEN  # at the caller's cost: no call-back row


def test_render_ahead_renders_every_fixed_prompt_once(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["voice", "render", "--fixed-only"])
    assert result.exit_code == 0, result.output
    again = runner.invoke(args=["voice", "render", "--fixed-only"])
    assert " 0 rendered" in again.output and "0 failed" in again.output


@pytest.mark.usefixtures("seeded")
def test_home_visit_by_keypad_books_once(call: Call, db: Database) -> None:
    from storage.models import HomeVisitBooking

    _answered_call(call)
    call.press("2")
    assert call.heard[0] == "Petugas datang untuk siapa?"
    call.press("1")  # myself
    call.press("3")  # elderly
    call.press("1")  # KTP-el recording; the village is remembered
    assert call.heard[0] == "Ketik nama banjar/dusun:"
    assert call.get_digits().attrib["finishOnKey"] == "#"
    call.press("1#")  # skip the hamlet (a name cannot be typed on a keypad)
    assert call.heard[0] == "Kirim?"
    call.press("1")
    assert call.heard[0].startswith("Diterima. Nomor: ")
    assert call.heard[-1] == "Terima kasih. Sampai jumpa."
    assert count(db, HomeVisitBooking) == 1
    assert count(db, OutboxMessage, recipient=ME) == 1  # the confirmation SMS


def test_a_new_caller_picks_district_and_village_with_two_digit_keys(
    call: Call, db: Database
) -> None:
    _add_visit(db)
    _answered_call(call)
    call.press("3")
    districts = [s for s in call.heard if s.startswith("Untuk ")]
    tejakula = next(s for s in districts if "Tejakula" in s)
    call.press(tejakula.rsplit("tekan ", 1)[1].rstrip(".").replace(" ", ""))
    assert call.heard[0] == "Pilih desa:"
    digits = call.get_digits()
    assert (digits.attrib["numDigits"], digits.attrib["finishOnKey"]) == ("2", "#")
    assert call.heard[-1] == "Tekan nomornya, lalu tanda pagar."
    for _ in range(5):  # through the pages ("9 8") to Tembok
        tembok = [s for s in call.heard if s.startswith("Untuk Tembok,")]
        if tembok:
            break
        assert any("tekan 9 8" in s for s in call.heard)
        call.press("98#")
    key = tembok[0].rsplit("tekan ", 1)[1].rstrip(".").replace(" ", "")
    call.press(key + "#")
    assert "Petugas ke Desa Tembok:" in call.heard


def test_language_choice_switches_the_spoken_language(call: Call) -> None:
    _answered_call(call)
    call.press("5")
    english = next(s for s in call.heard if "English" in s)
    call.press(english.rsplit("tekan ", 1)[1].rstrip("."))
    assert call.heard[0] == "Adminduk Buleleng"
    assert "For Check status, press 1." in call.heard
    assert "Untuk" not in " ".join(call.heard)


def test_calls_in_metrics_and_on_the_dashboard(call: Call, db: Database, app: Flask) -> None:
    from tests.console.helpers import cli, logged_in

    _answered_call(call)
    call.press("4")
    call.hang_up(seconds=90)
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'gateway_voice_calls{status="completed"} 1.0' in text
    assert "gateway_voice_call_seconds_total 90.0" in text
    assert 'gateway_voice_calls_answered_total{journey="priority"} 1.0' in text
    assert 'gateway_voice_cost_total{currency="USD"} 0.05' in text
    assert cli(app.test_cli_runner(), "demo", "--force").exit_code == 0
    page = logged_in(app, "staff").get("/staff/").get_data(as_text=True)
    assert "Telepon balik hari ini" in page and "Menit telepon suara hari ini" in page


def test_a_cost_that_is_not_a_number_400(call: Call) -> None:
    _answered_call(call)
    status, _, _ = call.post(**call._fields(isActive=0, amount="1e9; DROP"))
    assert status == 400


def test_production_queues_an_rq_job_that_places_the_call(
    call: Call, app: Flask, backend: str, fake_voice: FakeAtVoice
) -> None:
    if backend != "production":
        pytest.skip("RQ runs with Redis only")
    from rq import Queue

    from workers import jobs
    from workers.context import set_context

    rt = runtime(app)
    call.miss_call()
    queue = Queue(app.config["RQ_QUEUE"], connection=rt.redis)
    assert [j.func_name for j in queue.jobs] == ["workers.jobs.place_voice_calls"]
    set_context(rt.worker)
    try:
        assert jobs.place_voice_calls() == {"placed": 1, "refused": 0, "taken_back": 0}
    finally:
        set_context(None)
    assert [c.to for c in fake_voice.calls] == [ME]


def test_a_visit_added_has_its_dates_rendered_ahead(app: Flask, db: Database) -> None:
    import time

    rt = runtime(app)
    day = local_today() + dt.timedelta(days=17)
    _add_visit(db, days=17)
    for language, catalog in rt.catalogs.items():
        said = spoken_line(catalog, catalog.date(day))  # (the month said in full)
        name = rt.voice_audio.name(language, said)
        for _ in range(100):
            if rt.voice_audio.path(name):
                break
            time.sleep(0.05)
        assert rt.voice_audio.path(name), (language, said)


def test_a_final_notification_with_every_field_africas_talking_sends(
    call: Call, db: Database
) -> None:
    _answered_call(call)
    extra = {
        "callSessionState": "Completed",
        "callerCarrierName": "Telkomsel",
        "callerCountryCode": "62",
        "callStartTime": "2026-11-29 10:00:00",
        "clientDialedNumber": ME,
        "callerCallerId": ME,
        "dialDestinationNumber": ME,
        "dialDurationInSeconds": "40",
        "dialStartTime": "2026-11-29 10:00:01",
        "lastBridgeHangupCause": "NORMAL_CLEARING",
        "recordingUrl": "",
        "dtmfDigits": "",
    }
    reply = call.hang_up(seconds=40, **extra)
    assert reply is not None and len(reply) == 0
    assert _rows(db)[0].status == "completed"
