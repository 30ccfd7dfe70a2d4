"""BANTUAN by SMS (issue 11): the office's address, hours and telephone, and "ask staff to call
me" answered by a digit -- the contact journey of the menus, on both configurations; and a
ready document's "what to bring" in the answer to STATUS."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from common.local_time import local_today
from storage import queries
from storage.db import Database
from storage.models import CallbackRequest, OutboxMessage
from tests.helpers import ME, NEIGHBOUR, count, id_date
from tests.sms.helpers import HELP_EN, HELP_ID, Texter


def test_bantuan_then_a_call_back_by_sms(me: Texter, db: Database) -> None:
    assert me.reply("BANTUAN") == HELP_ID
    assert me.reply("1") == (
        "Petugas menelepon nomor ini. Tentang apa?\n1 Status dokumen\n2 Petugas ke rumah\n"
        "3 Jadwal ke desa\n4 Lainnya\n0 Kembali 00 Menu"
    )
    rows = me.new_rows("3")
    assert [(r.recipient, r.kind, r.body) for r in rows] == [
        (
            ME,
            "notification",
            "Adminduk Buleleng: permintaan ditelepon diterima. Petugas menelepon nomor ini "
            "dalam 1 hari kerja, jam kerja Sen-Jum 08.00-15.00. Kantor: (0362) 000000",
        ),
        (
            ME,
            "reply",
            "Diterima. Petugas menelepon Anda dalam 1 hari kerja, pada jam kerja "
            "(Sen-Jum 08.00-15.00). SMS menyusul.",
        ),
    ]
    with db.begin() as session:
        asked = session.scalars(select(CallbackRequest)).one()
    assert (asked.phone, asked.reason, asked.channel, asked.status) == (
        ME,
        "village_visit",
        "sms",
        "open",
    )
    # Asked again by SMS: the request waiting is named, nothing new is written.
    me.reply("BANTUAN")
    me.reply("1")
    assert me.reply("4") == (
        f"Anda sudah minta ditelepon pada {id_date(local_today())}. Petugas menelepon Anda "
        "dalam 1 hari kerja."
    )
    assert count(db, CallbackRequest) == 1


def test_help_in_english_asks_for_a_call(client: FlaskClient, db: Database) -> None:
    with db.begin() as session:
        queries.upsert_resident(session, NEIGHBOUR, language="en")
    neighbour = Texter(client, db, NEIGHBOUR)
    assert neighbour.reply("HELP") == HELP_EN
    neighbour.reply("1")
    rows = neighbour.new_rows("4")
    assert [r.body for r in rows] == [
        "Adminduk Buleleng: call-back request received. Staff will call this number within 1 "
        "working day, office hours Mon-Fri 08:00-15:00. Office: (0362) 000000",
        "Received. Staff will call you within 1 working day, in office hours "
        "(Mon-Fri 08:00-15:00). SMS follows.",
    ]
    with db.begin() as session:
        assert session.scalars(select(CallbackRequest.language)).one() == "en"
    assert count(db, OutboxMessage, recipient=ME) == 0


@pytest.mark.usefixtures("seeded")
def test_the_input_slips_are_refused_by_sms_too(me: Texter, db: Database) -> None:
    me.reply("RUMAH")
    for key in ("1", "1"):  # myself, sick
        me.reply(key)
    hamlet = me.reply("1")  # KTP-el; Tembok is remembered
    assert hamlet == "Ketik nama banjar/dusun:\n1 Lewati\n0 Kembali 00 Menu"
    assert me.reply("98") == "Ketik nama, bukan angka.\n" + hamlet
    assert me.reply("Banjar Dinas Tembok") == (
        "Kirim?\nRekam KTP-el, diri sendiri, Sakit\nDesa Tembok\nBanjar Dinas Tembok\n"
        "1 Kirim\n2 Ganti desa\n0 Kembali 00 Menu"
    )
