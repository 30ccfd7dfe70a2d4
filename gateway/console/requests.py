"""Document requests: finding them, changing their status one by one or for a selection (each
resident is told by SMS), registering one collected at the village office (Melali Kecapil),
and importing many from a CSV file."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response, abort, flash, render_template, request
from flask_login import current_user
from sqlalchemy import or_, select

from gateway import staff_actions
from gateway.console import bp, translate
from gateway.console.auth import ALL, OFFICE, roles, village_scope
from gateway.console.shared import PAGE, actor, done, failed, scoped
from gateway.phones import to_e164
from gateway.runtime import runtime
from gateway.staff_actions import ActionError
from storage.models import DocumentRequest
from storage.vocab import DOC_TYPES, REQUEST_STATUSES


@bp.get("/requests")
@roles(*ALL)
def requests_page() -> str:
    rt = runtime()
    q = request.args.get("q", "").strip()
    status = request.args.get("status", "")
    with rt.db.begin() as session:
        query = select(DocumentRequest).order_by(DocumentRequest.updated_at.desc())
        if q:
            phone = to_e164(q)
            query = query.where(
                or_(
                    DocumentRequest.number == q.replace(" ", ""),
                    DocumentRequest.applicant_phone == (phone or q),
                )
            )
        if status in REQUEST_STATUSES:
            query = query.where(DocumentRequest.status == status)
        rows = session.scalars(scoped(query.limit(PAGE), DocumentRequest.village_code)).all()
    return render_template(
        "console/requests.html",
        requests=rows,
        rt=rt,
        q=q,
        status=status,
        statuses=REQUEST_STATUSES,
        doc_types=DOC_TYPES,
    )


@bp.post("/requests/status")
@roles(*ALL)
def requests_status() -> Response:
    """Change the status of one request or a selection; each change notifies the resident."""
    rt = runtime()
    chosen = [n for n in request.form.getlist("numbers") if n]
    status = request.form.get("status", "")
    if current_user.is_officer and status != "collected":
        abort(403)  # officers hand documents over; the office changes the rest
    if not chosen:
        return failed(ActionError(translate("Choose at least one request.")), "staff.requests_page")
    try:
        with rt.db.begin() as session:
            for number in chosen:
                found = session.scalar(
                    scoped(
                        select(DocumentRequest).where(DocumentRequest.number == number),
                        DocumentRequest.village_code,
                    )
                )
                if found is None:
                    abort(404)
                if current_user.is_officer and found.status != "ready":
                    raise ActionError(
                        translate(
                            "Only a document that is ready can be handed over: {number}",
                            number=number,
                        )
                    )
                staff_actions.set_request_status(
                    session,
                    rt.resident_sms,
                    actor(),
                    number,
                    status,
                    request.form.get("pickup") or None,
                )
    except ActionError as error:
        return failed(error, "staff.requests_page")
    rt.dispatch()
    return done(
        translate("{n} request(s) changed; the residents are told by SMS.", n=len(chosen)),
        "staff.requests_page",
    )


@bp.route("/requests/new", methods=["GET", "POST"])
@roles(*ALL)
def request_new() -> str | Response:
    """Register a request collected at the village office (Melali Kecapil)."""
    rt = runtime()
    if request.method == "POST":
        form = request.form
        try:
            phone = to_e164(form.get("phone", ""))
            if phone is None:
                raise ActionError(
                    translate("Not a phone number: {value}", value=form.get("phone", ""))
                )
            village = rt.regions.find_village(village_scope() or form.get("village", ""))
            birth_year = form.get("birth_year", "")
            if not birth_year.isdigit():
                raise ActionError(translate("The birth year is 4 digits."))
            with rt.db.begin() as session:
                created = staff_actions.add_request(
                    session,
                    actor(),
                    doc_type=form.get("doc_type", ""),
                    phone=phone,
                    birth_year=int(birth_year),
                    village_code=village.code,
                )
                number = created.number
        except ValueError as error:
            flash(str(error), "error")
            return render_template(
                "console/request_form.html", form=form, rt=rt, doc_types=DOC_TYPES
            )
        return done(
            translate("Request registered. Its number: {number}", number=number),
            "staff.requests_page",
            q=number,
        )
    return render_template("console/request_form.html", form={}, rt=rt, doc_types=DOC_TYPES)


@bp.route("/requests/import", methods=["GET", "POST"])
@roles(*OFFICE)
def requests_import() -> str:
    """CSV: type, phone, birth_year, village[, status, number, pickup]. Bad rows are reported
    with their reason and skipped; the others are imported."""
    rt = runtime()
    report: dict[str, Any] | None = None
    if request.method == "POST":
        upload = request.files.get("file")
        raw = upload.read() if upload else b""
        try:
            rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        except UnicodeDecodeError:
            rows = []
            flash(translate("The file is not UTF-8 text."), "error")
        added, rejected = [], []
        for line, row in enumerate(rows, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            try:
                phone = to_e164(row.get("phone", ""))
                if phone is None:
                    raise ActionError(f"'{row.get('phone', '')}' is not a phone number")
                if not row.get("birth_year", "").isdigit():
                    raise ActionError("birth_year is not a year")
                village = rt.regions.find_village(row.get("village", ""))
                with rt.db.begin() as session:
                    created = staff_actions.add_request(
                        session,
                        actor(),
                        doc_type=row.get("type", ""),
                        phone=phone,
                        birth_year=int(row["birth_year"]),
                        village_code=village.code,
                        status=row.get("status") or "submitted",
                        number=row.get("number") or None,
                        pickup_place=row.get("pickup") or None,
                    )
                    added.append(created.number)
            except ValueError as error:
                rejected.append((line, str(error)))
        report = {"added": added, "rejected": rejected}
    return render_template("console/requests_import.html", report=report)
