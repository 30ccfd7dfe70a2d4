"""Residents: finding them by phone or village, and switching their SMS news off or on or
their language (USSD reads the change at the caller's next call)."""

from __future__ import annotations

from flask import Response, abort, render_template, request
from sqlalchemy import select
from wtforms import BooleanField, StringField

from gateway import staff_actions
from gateway.console import bp, translate
from gateway.console.auth import ALL, OFFICE, roles
from gateway.console.shared import PAGE, ConsoleForm, actor, done, scoped
from gateway.phones import to_e164
from gateway.runtime import runtime
from storage.models import Resident


@bp.get("/residents")
@roles(*ALL)
def residents() -> str:
    rt = runtime()
    q = request.args.get("q", "").strip()
    with rt.db.begin() as session:
        query = select(Resident).order_by(Resident.id.desc())
        if q:
            phone = to_e164(q)
            query = (
                query.where(Resident.phone == phone)
                if phone
                else query.where(
                    Resident.village_code.in_(
                        [v.code for v in rt.regions.villages if q.casefold() in v.name.casefold()]
                    )
                )
            )
        rows = session.scalars(scoped(query.limit(PAGE), Resident.village_code)).all()
    return render_template("console/residents.html", residents=rows, rt=rt, q=q)


class ResidentForm(ConsoleForm):
    """SMS news on or off, and the language; a language the service does not speak is ignored
    (the resident keeps theirs)."""

    opted_out = BooleanField(false_values=("", "0"))
    language = StringField()


@bp.post("/residents/<id:resident_id>")
@roles(*OFFICE)
def resident_update(resident_id: int) -> Response:
    rt = runtime()
    form = ResidentForm()
    with rt.db.begin() as session:
        resident = session.get(Resident, resident_id) or abort(404)
        before = {"opted_out": resident.opted_out, "language": resident.language}
        resident.opted_out = bool(form.opted_out.data)
        if form.language.data in rt.catalogs:
            resident.language = form.language.data
        staff_actions.audit(
            session,
            actor(),
            "resident.update",
            "resident",
            resident.phone,
            before,
            {"opted_out": resident.opted_out, "language": resident.language},
        )
        phone = resident.phone
    rt.store.forget_profile(phone)
    return done(translate("Resident updated."), "staff.residents", q=phone)
