"""Document requests: finding them, changing their status one by one or for a selection (each
resident is told by SMS), registering one collected at the village office (Melali Kecapil),
and importing many from a CSV file."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Response, abort, flash, render_template, request
from flask_login import current_user
from flask_wtf.file import FileField
from sqlalchemy import or_, select
from wtforms import Field, StringField
from wtforms.validators import DataRequired, Regexp, ValidationError

from common import request_lifecycle
from flows import request_status
from gateway import staff_actions
from gateway.console import bp, lazy_translate, request_import, translate, ui_language
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
from storage import queries
from storage.models import DocumentRequest
from storage.vocab import DOC_TYPES, INCOMPLETE_REASONS, REQUEST_STATUSES


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
        reasons=reason_labels(),
        longest=request_lifecycle.REASON_LONGEST,
    )


def reason_labels() -> dict[str, str]:
    """The listed reasons for "perlu dilengkapi", in the reader's language (the residents'
    catalogs say them: staff choose the very words the resident will read)."""
    c = runtime().resident_sms.catalog(ui_language())
    return {code: request_status.reason_text(c, code) for code in INCOMPLETE_REASONS}


class StatusForm(ConsoleForm):
    """The requests ticked in the list, their new status (no default: staff choose), where to
    collect them, what is missing ("perlu dilengkapi": a listed reason or their own words),
    and why, when a status goes back (common/request_lifecycle.py)."""

    numbers = CheckedValues(
        validators=[DataRequired(lazy_translate("Choose at least one request."))]
    )
    status = StringField(
        default="", validators=[DataRequired(lazy_translate("Choose the new status."))]
    )
    pickup = StringField()  # its length is checked by the action
    reason = StringField(default="")  # a code of INCOMPLETE_REASONS, or "" (then reason_text)
    reason_text = StringField(default="")  # the staff's own words, at most REASON_LONGEST
    correction = StringField(default="")  # why a status goes back, told to the resident

    def incomplete_reason(self) -> str | None:
        code = self.reason.data or ""
        if code in INCOMPLETE_REASONS:
            return code
        return request_lifecycle.clean_reason(self.reason_text.data)

    def reason_for(self, before: str) -> str | None:
        """The reason of the move from ``before`` to the chosen status."""
        after = self.status.data
        if after == request_lifecycle.NEEDS_COMPLETION:
            return self.incomplete_reason()
        if request_lifecycle.kind_of(before, after) == request_lifecycle.CORRECTION:
            return request_lifecycle.clean_reason(self.correction.data)
        return None


@bp.post("/requests/status")
@roles(*ALL)
def requests_status() -> str | Response:
    """Change the status of one request or a selection; each change notifies the resident.
    A status that goes back first shows what each resident will be told, and asks why."""
    rt = runtime()
    form = StatusForm()
    if current_user.is_officer and form.status.data != "collected":
        abort(403)  # officers hand documents over; the office changes the rest
    try:
        form.check()
        with rt.db.begin() as session:
            found = []
            for number in form.numbers.data:
                request_row = session.scalar(
                    scoped(
                        select(DocumentRequest).where(DocumentRequest.number == number),
                        DocumentRequest.village_code,
                    )
                )
                if request_row is None:
                    abort(404)
                if current_user.is_officer and request_row.status != "ready":
                    raise ActionError(
                        translate(
                            "Only a document that is ready can be handed over: {number}",
                            number=number,
                        )
                    )
                found.append(request_row)
            going_back = [
                r
                for r in found
                if request_lifecycle.kind_of(r.status, form.status.data)
                == request_lifecycle.CORRECTION
            ]
            if going_back and not form.reason_for(going_back[0].status):
                return _confirm_going_back(rt, session, form, going_back)
            changed = 0
            for request_row in found:
                move = staff_actions.request_move(
                    session,
                    request_row.number,
                    form.status.data,
                    form.pickup.data or None,
                    form.reason_for(request_row.status),
                )
                staff_actions.set_request_status(
                    session,
                    rt.resident_sms,
                    actor(),
                    request_row.number,
                    form.status.data,
                    form.pickup.data or None,
                    move.reason,
                )
                changed += move.sms is not None
    except ValueError as error:  # the form's, the action's, the lifecycle's
        return failed(error, "staff.requests_page")
    rt.dispatch()
    unchanged = len(form.numbers.data) - changed
    message = translate("{n} request(s) changed; the residents are told by SMS.", n=changed)
    if unchanged:
        message += " " + translate("{n} already had this status: nothing sent.", n=unchanged)
    return done(message, "staff.requests_page")


def _confirm_going_back(
    rt: Any, session: Any, form: StatusForm, going_back: list[DocumentRequest]
) -> str:
    """The page that asks why a status goes back, and shows what each resident will read (the
    reason in its place)."""
    placeholder = "…"
    previews = []
    for row in going_back:
        view = dataclasses.replace(
            queries.requests.view_of(row),
            status=form.status.data,
            reason=placeholder,
            pickup_place=form.pickup.data or row.pickup_place,
        )
        language = rt.resident_sms.language_of(session, row.applicant_phone)
        text = request_status.changed_sms(
            rt.resident_sms.catalog(language), view, "sms.status_corrected"
        )
        previews.append((row.number, row.status, text))
    return render_template(
        "console/request_status_confirm.html",
        form=form,
        previews=previews,
        longest=request_lifecycle.REASON_LONGEST,
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
                rt.resident_sms,
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
    rt.dispatch()
    return done(
        translate(
            "Request registered. Its number: {number}. The applicant is told it by SMS.",
            number=number,
        ),
        "staff.requests_page",
        q=number,
    )


class ImportForm(ConsoleForm):
    """A CSV file: type, phone, birth_year, village[, status, number, pickup, reason]."""

    file = FileField()


class ImportConfirmForm(ConsoleForm):
    """The previewed file's text, carried back by the preview page (see ``requests_import``)."""

    content = StringField(default="")


@bp.route("/requests/import", methods=["GET", "POST"])
@roles(*OFFICE)
def requests_import() -> str:
    """Upload, then a preview of the first rows and of what will be refused; nothing is
    written until staff confirm (``requests_import_confirm``).

    The preview page carries the file's text back in its form (a hidden text area, sent as
    multipart so it is not inflated): nothing is kept on the server between the two steps, so
    any web process of any machine takes the confirmation, and nothing is left behind by a
    preview nobody confirmed. Everything is checked again on confirmation; the text comes
    back from the same logged-in staff member, under the same CSRF token, and could hold
    nothing they could not have uploaded."""
    form = ImportForm()
    if not form.is_submitted():
        return render_template("console/requests_import.html", report=None, preview=None)
    raw = form.file.data.read() if form.file.data else b""
    text, encoding = request_import.decode(raw)
    delimiter = request_import.delimiter_of(text)
    rows = [
        request_import.check(row, runtime().regions) for row in request_import.read(text, delimiter)
    ]
    _numbers_in_use(rows)
    return render_template(
        "console/requests_import.html",
        report=None,
        preview={
            "encoding": encoding,
            "delimiter": {",": "comma", ";": "semicolon", "\t": "tab"}[delimiter],
            "columns": list(rows[0].values) if rows else [],
            "rows": rows[: request_import.PREVIEW_ROWS],
            "total": len(rows),
            "good": sum(1 for r in rows if r.problem is None),
            "content": text,
        },
    )


@bp.post("/requests/import/confirm")
@roles(*OFFICE)
def requests_import_confirm() -> str:
    """Write the previewed rows: each in its own transaction, so a bad row is refused with its
    reason and the others are kept; each applicant is told their number by SMS."""
    form = ImportConfirmForm()
    text = form.content.data or ""
    rows = request_import.read(text, request_import.delimiter_of(text))
    report = _import(rows)
    runtime().dispatch()
    return render_template("console/requests_import.html", report=report, preview=None)


def _numbers_in_use(rows: list[request_import.Row]) -> None:
    """For the preview: refuse the rows whose number is already a request's (on import, each
    row's own transaction asks again)."""
    given = [r for r in rows if r.problem is None and r.checked.get("number")]
    if not given:
        return
    with runtime().db.begin() as session:
        for row in given:
            number = row.checked["number"]
            if queries.find_request(session, number) is not None:
                row.problem = ("Request number {value} already exists.", {"value": number})


def _import(rows: list[request_import.Row]) -> dict[str, Any]:
    rt = runtime()
    added: list[dict[str, str]] = []
    rejected: list[tuple[int, str, dict[str, str]]] = []
    for row in rows:
        request_import.check(row, rt.regions)
        if row.problem is not None:
            rejected.append((row.line, *row.problem))
            continue
        number = row.checked["number"]
        try:
            with rt.db.begin() as session:
                if number is not None and queries.find_request(session, number) is not None:
                    rejected.append(
                        (row.line, "Request number {value} already exists.", {"value": number})
                    )
                    continue
                created = staff_actions.add_request(
                    session, rt.resident_sms, actor(), **row.checked
                )
                added.append(
                    {
                        "number": created.number,
                        "phone": created.applicant_phone,
                        "village": rt.regions.name(created.village_code),
                    }
                )
        except ValueError as error:  # what only the database could tell
            rejected.append((row.line, "{value}", {"value": str(error)}))
    return {"added": added, "rejected": rejected}
