"""Home-visit bookings (Sidakep): the list by status and district, scheduling a visit, and
closing it as done or cancelled; the resident is told by SMS each time."""

from __future__ import annotations

import datetime as dt

from flask import Response, abort, render_template, request
from sqlalchemy import select
from wtforms import Field, StringField
from wtforms.validators import Length

from common.refusals import Word
from gateway import staff_actions
from gateway.console import bp, lazy_translate, translate
from gateway.console.auth import ALL, OFFICE, roles
from gateway.console.shared import (
    PAGE,
    ConsoleForm,
    actor,
    done,
    failed,
    local_moment,
    scoped,
)
from gateway.runtime import runtime
from gateway.staff_actions import ActionError
from storage.models import HomeVisitBooking


@bp.get("/bookings")
@roles(*ALL)
def bookings() -> str:
    rt = runtime()
    status = request.args.get("status", "open")
    district = request.args.get("district", "")
    with rt.db.begin() as session:
        query = select(HomeVisitBooking).order_by(HomeVisitBooking.created_at.desc())
        if status == "open":
            query = query.where(HomeVisitBooking.status.in_(("requested", "scheduled")))
        elif status:
            query = query.where(HomeVisitBooking.status == status)
        if district:
            query = query.where(
                HomeVisitBooking.village_code.in_(
                    [v.code for v in rt.regions.villages_of(district)]
                )
            )
        rows = session.scalars(scoped(query.limit(PAGE), HomeVisitBooking.village_code)).all()
    return render_template(
        "console/bookings.html", bookings=rows, rt=rt, status=status, district=district
    )


class ScheduleForm(ConsoleForm):
    """When staff will visit (WITA), and which team goes."""

    date = StringField(default="")
    time = StringField(default="")
    team = StringField(
        validators=[
            Length(max=60, message=lazy_translate("The team's name: at most 60 characters."))
        ]
    )

    def validate_time(self, field: Field) -> None:
        local_moment(self.date.data, field.data)

    @property
    def moment(self) -> dt.datetime:
        return local_moment(self.date.data, self.time.data)


@bp.post("/bookings/<number>/<step>")
@roles(*OFFICE)
def booking_step(number: str, step: str) -> str | Response:
    """Schedule, done, or cancelled; a cancellation is confirmed first (``confirmed``), on a
    page that says the resident will be told."""
    rt = runtime()
    if step == "cancelled" and not request.form.get("confirmed"):
        try:
            with rt.db.begin() as session:
                booking = staff_actions.get_booking(session, number)
                if booking.status not in ("requested", "scheduled"):
                    raise ActionError(
                        "booking {number} is already {status}",
                        number=number,
                        status=Word(booking.status),
                    )
                return render_template("console/booking_cancel.html", booking=booking, rt=rt)
        except ActionError as error:
            return failed(error, "staff.bookings")
    try:
        with rt.db.begin() as session:
            if step == "schedule":
                form = ScheduleForm()
                form.check()
                staff_actions.schedule_booking(
                    session, rt.resident_sms, actor(), number, form.moment, form.team.data
                )
            elif step in ("done", "cancelled"):
                staff_actions.close_booking(session, rt.resident_sms, actor(), number, step)
            else:
                abort(404)
    except ValueError as error:
        return failed(error, "staff.bookings")
    rt.dispatch()
    return done(
        translate("Booking {number} updated; the resident is told by SMS.", number=number),
        "staff.bookings",
    )
