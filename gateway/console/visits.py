"""Village visits (Si Melik): the schedule, drafting a visit, editing or cancelling it (the
residents already told hear of the change), and publishing it from a broadcast preview."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import Response, abort, flash, render_template, request
from sqlalchemy import func, select

from common.local_time import local_today
from common.segments import count_segments
from gateway import staff_actions
from gateway.console import bp, translate
from gateway.console.auth import ALL, OFFICE, roles
from gateway.console.shared import PAGE, actor, done, failed, parse_date, parse_time, scoped
from gateway.runtime import runtime
from gateway.staff_actions import ActionError
from storage.models import Broadcast, ReminderSubscription, VillageVisit


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


@bp.route("/visits/new", methods=["GET", "POST"])
@roles(*OFFICE)
def visit_new() -> str | Response:
    rt = runtime()
    if request.method == "POST":
        form = request.form
        try:
            village = rt.regions.find_village(form.get("village", ""))
            with rt.db.begin() as session:
                visit, _ = staff_actions.add_visit(
                    session,
                    rt.resident_sms,
                    actor(),
                    village_code=village.code,
                    visit_date=parse_date(form.get("date", "")),
                    start=parse_time(form.get("start", "")),
                    end=parse_time(form.get("end", "")),
                    place=form.get("place", ""),
                    bring=form.get("bring"),
                    publish=False,
                )
        except (ActionError, ValueError) as error:
            flash(str(error), "error")
            return render_template("console/visit_form.html", visit=None, form=form, rt=rt)
        return done(
            translate("Visit saved as a draft. Check it, then publish it."),
            "staff.visit_publish",
            visit_id=visit.id,
        )
    return render_template("console/visit_form.html", visit=None, form={}, rt=rt)


@bp.route("/visits/<int:visit_id>/edit", methods=["GET", "POST"])
@roles(*OFFICE)
def visit_edit(visit_id: int) -> str | Response:
    rt = runtime()
    with rt.db.begin() as session:
        visit = session.get(VillageVisit, visit_id) or abort(404)
    form: dict[str, Any] = {
        "village": visit.village_code,
        "date": visit.visit_date.isoformat(),
        "start": f"{visit.start_time:%H:%M}",
        "end": f"{visit.end_time:%H:%M}",
        "place": visit.place,
        "bring": visit.bring or "",
    }
    if request.method == "GET":
        return render_template("console/visit_form.html", visit=visit, form=form, rt=rt)
    form = dict(request.form)
    try:
        # An error leaves the ``with`` block, which rolls the half-made change back.
        with rt.db.begin() as session:
            told = staff_actions.edit_visit(
                session,
                rt.resident_sms,
                actor(),
                visit_id,
                visit_date=parse_date(form.get("date", "")),
                start=parse_time(form.get("start", "")),
                end=parse_time(form.get("end", "")),
                place=form.get("place", ""),
                bring=form.get("bring", ""),
            )
    except ActionError as error:
        flash(str(error), "error")
        return render_template("console/visit_form.html", visit=visit, form=form, rt=rt)
    rt.dispatch()
    return done(
        translate("Visit changed; {n} resident(s) already told get the change.", n=told),
        "staff.visits",
    )


@bp.post("/visits/<int:visit_id>/cancel")
@roles(*OFFICE)
def visit_cancel(visit_id: int) -> Response:
    rt = runtime()
    try:
        with rt.db.begin() as session:
            told = staff_actions.cancel_visit(session, rt.resident_sms, actor(), visit_id)
    except ActionError as error:
        return failed(error, "staff.visits")
    rt.dispatch()
    return done(translate("Visit cancelled; {n} resident(s) are told.", n=told), "staff.visits")


@bp.route("/visits/<int:visit_id>/publish", methods=["GET", "POST"])
@roles(*OFFICE)
def visit_publish(visit_id: int) -> str | Response:
    """The broadcast preview of a visit: who will be told, what they read, what it costs."""
    rt = runtime()
    with rt.db.begin() as session:
        visit = session.get(VillageVisit, visit_id) or abort(404)
        if request.method == "POST":
            try:
                staff_actions.publish_visit(session, rt.resident_sms, actor(), visit_id)
            except ActionError as error:
                return failed(error, "staff.visits")
            broadcast_id = session.scalar(
                select(func.max(Broadcast.id)).where(Broadcast.visit_id == visit_id)
            )
        else:
            # The same people resident_sms.visit_published writes to: the village's residents
            # (not opted out), and those who asked to be told of this village's visits.
            audience = rt.resident_sms.audience(village=visit.village_code)
            recipients = dict(rt.resident_sms.recipients(session, audience))
            for phone, language in session.execute(
                select(ReminderSubscription.phone, ReminderSubscription.language).where(
                    ReminderSubscription.kind == "visit_published",
                    ReminderSubscription.village_code == visit.village_code,
                )
            ):
                recipients.setdefault(phone, language)
            languages: dict[str, int] = defaultdict(int)
            for language in recipients.values():
                languages[language] += 1
            previews = {
                code: rt.resident_sms.visit_text("sms.visit_published", code, visit)
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
    rt.dispatch(inline=True)
    return done(translate("Visit published."), "staff.broadcast", broadcast_id=broadcast_id)
