"""Document requests: finding them, changing their status one by one or for a selection (each
resident is told by SMS), registering one collected at the village office (Melali Kecapil),
and importing many from a CSV file."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from flask import Response, abort, flash, render_template, request
from flask_login import current_user
from flask_wtf.file import FileField
from sqlalchemy import or_, select
from wtforms import Field, StringField
from wtforms.validators import DataRequired, Regexp, ValidationError

from gateway import staff_actions
from gateway.console import CONTROL, bp, lazy_translate, translate
from gateway.console.auth import ALL, OFFICE, roles
from gateway.console.formatting import say
from gateway.console.shared import (
    PAGE,
    CheckedValues,
    ConsoleForm,
    actor,
    done,
    failed,
    scoped,
    typed,
    village_scope,
)
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


class StatusForm(ConsoleForm):
    """The requests ticked in the list, their new status, and where to collect them."""

    numbers = CheckedValues(
        validators=[DataRequired(lazy_translate("Choose at least one request."))]
    )
    status = StringField(default="")
    pickup = StringField()  # its length is checked by the action


@bp.post("/requests/status")
@roles(*ALL)
def requests_status() -> Response:
    """Change the status of one request or a selection; each change notifies the resident."""
    rt = runtime()
    form = StatusForm()
    if current_user.is_officer and form.status.data != "collected":
        abort(403)  # officers hand documents over; the office changes the rest
    try:
        form.check()
        with rt.db.begin() as session:
            for number in form.numbers.data:
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
                    form.status.data,
                    form.pickup.data or None,
                )
    except ActionError as error:
        return failed(error, "staff.requests_page")
    rt.dispatch()
    return done(
        translate(
            "{n} request(s) changed; the residents are told by SMS.", n=len(form.numbers.data)
        ),
        "staff.requests_page",
    )


class PhoneField(StringField):
    """A phone number as people write it (0812-…, +62 812 …); ``data`` is E.164, or None."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = to_e164(valuelist[0]) if valuelist else None

    def pre_validate(self, form: Any) -> None:
        if self.data is None:
            raise ValidationError(translate("Not a phone number: {value}", value=typed(self)))

    def _value(self) -> str:
        return typed(self) or super()._value()


class RequestForm(ConsoleForm):
    """A request collected at the village office; a village officer's is in their village."""

    phone = PhoneField()
    village = StringField(default="")
    birth_year = StringField(
        default="",
        validators=[Regexp(r"\d+\Z", message=lazy_translate("The birth year is 4 digits."))],
    )
    doc_type = StringField(default="")

    village_code = ""  # once validated

    def validate_village(self, field: Field) -> None:
        if not (village_scope() or field.data.strip()):
            raise ValidationError(translate("Choose a village."))
        try:
            self.village_code = runtime().regions.find_village(village_scope() or field.data).code
        except ValueError as error:
            raise ValidationError(say(error)) from None


@bp.route("/requests/new", methods=["GET", "POST"])
@roles(*ALL)
def request_new() -> str | Response:
    """Register a request collected at the village office (Melali Kecapil)."""
    rt = runtime()
    form = RequestForm()
    if not form.is_submitted():
        return render_template("console/request_form.html", form=form, rt=rt, doc_types=DOC_TYPES)
    try:
        form.check()
        with rt.db.begin() as session:
            created = staff_actions.add_request(
                session,
                actor(),
                doc_type=form.doc_type.data,
                phone=form.phone.data,
                birth_year=int(form.birth_year.data),
                village_code=form.village_code,
            )
            number = created.number
    except ValueError as error:  # the form's or the action's (ActionError)
        flash(say(error), "error")
        return render_template("console/request_form.html", form=form, rt=rt, doc_types=DOC_TYPES)
    return done(
        translate("Request registered. Its number: {number}", number=number),
        "staff.requests_page",
        q=number,
    )


class ImportForm(ConsoleForm):
    """A CSV file: type, phone, birth_year, village[, status, number, pickup]."""

    file = FileField()


@bp.route("/requests/import", methods=["GET", "POST"])
@roles(*OFFICE)
def requests_import() -> str:
    """Bad rows are reported with their reason and skipped; the others are imported."""
    form = ImportForm()
    report = None
    if form.is_submitted():
        raw = form.file.data.read() if form.file.data else b""
        try:
            rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        except (UnicodeDecodeError, csv.Error):
            rows = []
            flash(translate("The file is not UTF-8 text."), "error")
        report = _import(rows)
    return render_template("console/requests_import.html", report=report)


CSV_LONGEST = 120  # characters of one value (a pickup place is the longest)


def _import(rows: list[dict[str, str]]) -> dict[str, Any]:
    """Each row a request in its own transaction, so a bad row is rejected with its reason
    and the others are kept."""
    rt = runtime()
    added, rejected = [], []
    for line, raw_row in enumerate(rows, start=2):  # line 1: the header
        row = {
            (k or "").strip().lower(): " ".join(v) if isinstance(v, list) else (v or "").strip()
            for k, v in raw_row.items()
        }
        try:
            if any(len(v) > CSV_LONGEST or CONTROL.search(v) for v in row.values()):
                raise ActionError(
                    f"a value is longer than {CSV_LONGEST} characters or holds control characters"
                )
            if len(row.get("number", "")) > 16:
                raise ActionError("number is longer than 16 digits")
            phone = to_e164(row.get("phone", ""))
            if phone is None:
                raise ActionError(f"'{row.get('phone', '')}' is not a phone number")
            if not re.fullmatch(r"\d{4}", row.get("birth_year", "")):
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
    return {"added": added, "rejected": rejected}
