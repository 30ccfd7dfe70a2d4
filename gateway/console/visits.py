"""Village visits (Si Melik): the schedule, drafting a visit, editing or cancelling it (the
residents already told hear of the change), and publishing it from a broadcast preview."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from flask import Response, abort, flash, render_template, request
from sqlalchemy import select
from wtforms import Field, StringField
from wtforms.validators import ValidationError

from common.local_time import local_today
from common.segments import count_segments
from gateway import staff_actions
from gateway.console import bp, on_expired_form, translate
from gateway.console.auth import ALL, OFFICE, roles
from gateway.console.formatting import say
from gateway.console.shared import (
    PAGE,
    ClockField,
    ConsoleForm,
    DayField,
    actor,
    done,
    failed,
    scoped,
)
from gateway.runtime import runtime
from gateway.staff_actions import ActionError
from storage.models import VillageVisit
from storage.queries.visits import view_of


@bp.get("/visits")
@roles(*ALL)
def visits() -> str:
    rt = runtime()
    show_past = request.args.get("past") == "1"
    with rt.db.begin() as session:
        query = select(VillageVisit).order_by(
            VillageVisit.visit_date.desc() if show_past else VillageVisit.visit_date
        )
        if not show_past:
            query = query.where(VillageVisit.visit_date >= local_today())
        rows = session.scalars(scoped(query.limit(PAGE), VillageVisit.village_code)).all()
    return render_template("console/visits.html", visits=rows, rt=rt, show_past=show_past)


class VisitForm(ConsoleForm):
    """A new visit: which village, when, where, and what residents should bring."""

    village = StringField(default="")
    date = DayField()
    start = ClockField(default=dt.time(9))
    end = ClockField(default=dt.time(14))
    place = StringField(default="")
    bring = StringField()

    village_code = ""  # the chosen village, once validated

    def validate_village(self, field: Field) -> None:
        if not field.data.strip():
            raise ValidationError(translate("Choose a village."))
        try:
            self.village_code = runtime().regions.find_village(field.data).code
        except ValueError as error:
            raise ValidationError(say(error)) from None


class VisitEditForm(VisitForm):
    """A visit stays in its village; the rest may change."""

    village = None


@bp.route("/visits/new", methods=["GET", "POST"])
@roles(*OFFICE)
def visit_new() -> str | Response:
    rt = runtime()
    form = VisitForm()
    if not form.is_submitted():
        return render_template("console/visit_form.html", visit=None, form=form, rt=rt)
    try:
        form.check()
        with rt.db.begin() as session:
            visit, _ = staff_actions.add_visit(
                session,
                rt.resident_sms,
                actor(),
                village_code=form.village_code,
                visit_date=form.date.data,
                start=form.start.data,
                end=form.end.data,
                place=form.place.data,
                bring=form.bring.data,
                publish=False,
            )
    except ValueError as error:  # the form's or the action's (ActionError)
        flash(say(error), "error")
        return render_template("console/visit_form.html", visit=None, form=form, rt=rt)
    return done(
        translate("Visit saved as a draft. Check it, then publish it."),
        "staff.visit_publish",
        visit_id=visit.id,
    )


@on_expired_form("staff.visit_new")
def visit_new_again() -> str:
    """The new-visit form again with what was typed (its token had expired)."""
    form = VisitForm()
    return render_template("console/visit_form.html", visit=None, form=form, rt=runtime())


@on_expired_form("staff.visit_edit")
def visit_edit_again() -> str:
    """The visit's form again with what was typed (its token had expired)."""
    rt = runtime()
    visit_id = (request.view_args or {}).get("visit_id")
    with rt.db.begin() as session:
        visit = session.get(VillageVisit, visit_id) or abort(404)
    return render_template("console/visit_form.html", visit=visit, form=VisitEditForm(), rt=rt)


@bp.route("/visits/<id:visit_id>/edit", methods=["GET", "POST"])
@roles(*OFFICE)
def visit_edit(visit_id: int) -> str | Response:
    rt = runtime()
    with rt.db.begin() as session:
        visit = session.get(VillageVisit, visit_id) or abort(404)
    if request.method == "GET":
        form = VisitEditForm(
            date=visit.visit_date,
            start=visit.start_time,
            end=visit.end_time,
            place=visit.place,
            bring=visit.bring or "",
        )
        return render_template("console/visit_form.html", visit=visit, form=form, rt=rt)
    form = VisitEditForm()
    try:
        form.check()
        # An error leaves the ``with`` block, which rolls the half-made change back.
        with rt.db.begin() as session:
            told = staff_actions.edit_visit(
                session,
                rt.resident_sms,
                actor(),
                visit_id,
                visit_date=form.date.data,
                start=form.start.data,
                end=form.end.data,
                place=form.place.data,
                bring=form.bring.data or "",  # an empty field clears it
            )
    except ActionError as error:
        flash(say(error), "error")
        return render_template("console/visit_form.html", visit=visit, form=form, rt=rt)
    rt.dispatch()
    return done(
        translate("Visit changed; {n} resident(s) already told get the change.", n=told),
        "staff.visits",
    )


@bp.post("/visits/<id:visit_id>/cancel")
@roles(*OFFICE)
def visit_cancel(visit_id: int) -> str | Response:
    """Without ``confirmed``: the confirmation, which says how many residents get the
    cancellation SMS; with it, the cancellation."""
    rt = runtime()
    if not request.form.get("confirmed"):
        try:
            with rt.db.begin() as session:
                visit = staff_actions.get_visit(session, visit_id)
                if visit.cancelled:
                    raise ActionError("visit {id} is already cancelled", id=visit_id)
                told, withdrawn = rt.resident_sms.visit_cancel_counts(session, visit)
                return render_template(
                    "console/visit_cancel.html",
                    visit=visit,
                    told=told,
                    withdrawn=withdrawn,
                    rt=rt,
                )
        except ActionError as error:
            return failed(error, "staff.visits")
    try:
        with rt.db.begin() as session:
            told = staff_actions.cancel_visit(session, rt.resident_sms, actor(), visit_id)
    except ActionError as error:
        return failed(error, "staff.visits")
    rt.dispatch()
    return done(translate("Visit cancelled; {n} resident(s) are told.", n=told), "staff.visits")


@bp.route("/visits/<id:visit_id>/publish", methods=["GET", "POST"])
@roles(*OFFICE)
def visit_publish(visit_id: int) -> str | Response:
    """The broadcast preview of a visit: who will be told, what they read, what it costs."""
    rt = runtime()
    with rt.db.begin() as session:
        visit = session.get(VillageVisit, visit_id) or abort(404)
        if request.method == "POST":
            try:
                broadcast = staff_actions.publish_visit_broadcast(
                    session, rt.resident_sms, actor(), visit_id
                )
            except ActionError as error:
                return failed(error, "staff.visits")
            broadcast_id = broadcast.id
        else:
            recipients = rt.resident_sms.visit_audience(session, visit.village_code)
            languages = Counter(recipients.values())  # in the order first seen
            view = view_of(visit)
            previews = {
                code: rt.resident_sms.visit_text("sms.visit_published", code, view)
                for code in rt.catalogs
            }
            return render_template(
                "console/visit_publish.html",
                visit=visit,
                rt=rt,
                recipients=len(recipients),
                languages=dict(languages),
                previews=previews,
                counts={code: count_segments(text) for code, text in previews.items()},
                price=float(rt.config["SMS_PRICE_PER_SEGMENT"]),
                currency=rt.config["SMS_CURRENCY"],
            )
    rt.dispatch()
    return done(translate("Visit published."), "staff.broadcast", broadcast_id=broadcast_id)
