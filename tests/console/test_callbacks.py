"""The call-back queue (issue 11): residents who asked by USSD or SMS to be called, oldest
first; staff mark each called or not reached, audited; village officers do not see it."""

from __future__ import annotations

from flask import Flask

from storage.db import Database
from storage.models import CallbackRequest, OutboxMessage
from tests.console.helpers import (
    GRANNY,
    Browser,
    World,
    audit_log,
    flashes,
    logged_in,
    outbox_rows,
)
from tests.helpers import Phone


def _ask(app: Flask, phone: str, reason_key: str) -> None:
    caller = Phone(app.test_client(), phone)
    caller.dial()
    caller.press("6")
    caller.press("1")
    assert caller.press(reason_key).startswith("END ")


def _status(db: Database, phone: str) -> list[tuple[str, str | None]]:
    from sqlalchemy import select

    with db.begin() as session:
        return [
            (r.status, r.handled_by)
            for r in session.scalars(
                select(CallbackRequest)
                .where(CallbackRequest.phone == phone)
                .order_by(CallbackRequest.id)
            )
        ]


def test_the_queue_and_marking_called_or_not_reached(
    app: Flask, staff: Browser, db: Database, world: World
) -> None:
    _ask(app, GRANNY, "1")  # about a document's status
    page = staff.get("/staff/callbacks").text
    assert "Minta ditelepon" in page
    assert f'href="tel:{GRANNY}"' in page
    assert "status dokumen" in page  # the reason, in the console's language
    with db.begin() as session:
        from sqlalchemy import select

        request_id = session.scalars(select(CallbackRequest.id)).one()

    response = staff.post(f"/staff/callbacks/{request_id}/not_reached")
    page = staff.follow(response, "/staff/callbacks")
    assert flashes(page) == [("ok", "Permintaan telepon diperbarui.")]
    assert "tidak tersambung" in page  # still waiting: to be tried again
    assert _status(db, GRANNY) == [("not_reached", "staff")]
    # The resident learns the missed call was the office's -- once a day, however often tried.
    staff.post(f"/staff/callbacks/{request_id}/not_reached")
    missed = outbox_rows(db, OutboxMessage.dedupe_key.startswith(f"callback:{request_id}:missed:"))
    assert [(m.recipient, m.kind, m.body) for m in missed] == [
        (
            GRANNY,
            "notification",
            "Adminduk Buleleng: petugas mencoba menelepon Anda, tetapi tidak tersambung. Kami "
            "coba lagi, atau telepon kantor (0362) 000000.",
        )
    ]

    staff.follow(staff.post(f"/staff/callbacks/{request_id}/called"), "/staff/callbacks")
    assert _status(db, GRANNY) == [("called", "staff")]
    assert f'href="tel:{GRANNY}"' not in staff.get("/staff/callbacks").text  # done
    assert f'href="tel:{GRANNY}"' in staff.get("/staff/callbacks?status=called").text
    assert audit_log(db)[-3:] == [
        (
            "staff",
            "callback.not_reached",
            "callback_request",
            str(request_id),
            {"status": "open"},
            {"status": "not_reached"},
        ),
        (
            "staff",
            "callback.not_reached",
            "callback_request",
            str(request_id),
            {"status": "not_reached"},
            {"status": "not_reached"},
        ),
        (
            "staff",
            "callback.called",
            "callback_request",
            str(request_id),
            {"status": "not_reached"},
            {"status": "called"},
        ),
    ]
    # Called is final; a new request from the same phone is a new row in the queue.
    page = staff.follow(staff.post(f"/staff/callbacks/{request_id}/called"), "/staff/callbacks")
    assert flashes(page)[0][0] == "error"
    _ask(app, GRANNY, "4")
    assert _status(db, GRANNY) == [("called", "staff"), ("open", None)]


def test_village_officers_do_not_see_the_queue(app: Flask, world: World, db: Database) -> None:
    _ask(app, GRANNY, "2")
    officer = logged_in(app, "officer")
    assert officer.get("/staff/callbacks").status_code == 403
    assert officer.post("/staff/callbacks/1/called").status_code == 403
    assert _status(db, GRANNY) == [("open", None)]
    assert logged_in(app, "admin").get("/staff/callbacks").status_code == 200
    assert logged_in(app, "admin").post("/staff/callbacks/1/done").status_code == 404


def test_staff_see_a_booking_the_resident_cancelled(
    app: Flask, staff: Browser, admin: Browser, world: World
) -> None:
    number = world.booking_tembok
    caller = Phone(app.test_client(), GRANNY)
    caller.dial()
    listing = caller.press("1")
    item = next(line.split(" ")[0] for line in listing.split("\n") if number[-4:] in line)
    assert caller.press(item).startswith(f"CON Petugas ke rumah no. {number}\nKartu Keluarga\n")
    caller.press("1")
    assert caller.press("1").startswith(f"END Permintaan no. {number} dibatalkan.")
    page = staff.get("/staff/bookings?status=cancelled").text
    assert f">{number}</td>" in page
    assert number not in staff.get("/staff/bookings").text  # no longer open
    audit = admin.get("/staff/audit?lang=en").text
    assert "cancelled a home visit" in audit and "resident" in audit and number in audit


def test_the_new_home_visit_reasons_render(staff: Browser, db: Database, world: World) -> None:
    from storage import queries
    from tests.helpers import TEMBOK

    with db.begin() as session:
        for phone, reason in (("+6281277770011", "poor"), ("+6281277770012", "new_ktp_age")):
            queries.create_booking(
                session,
                phone=phone,
                for_whom="self",
                reason=reason,
                service="ktp",
                village_code=TEMBOK,
                hamlet=None,
            )
    page = staff.get("/staff/bookings").text
    assert ">miskin</td>" in page and ">baru wajib KTP</td>" in page
