"""The console's pages. Reads are small queries; every change is a gateway.actions call inside
one transaction, followed by ``rt.dispatch()`` so the SMS it wrote starts moving.

Village officers see and change only their own village: every query here filters by
``village_scope()``, and a record of another village answers 404, whatever the URL says.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from typing import Any

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from common.local_time import LOCAL_TZ, local_today
from common.segments import count_segments, non_gsm_characters
from gateway import staff_actions
from gateway.console import bp, roles, translate, village_scope
from gateway.console.auth import check_password, hash_password
from gateway.phones import to_e164
from gateway.runtime import Runtime, runtime
from gateway.staff_actions import ActionError
from storage import outbox
from storage.models import (
    STAFF_ROLES,
    AuditEntry,
    Broadcast,
    DocumentRequest,
    HomeVisitBooking,
    OutboxMessage,
    ReminderSubscription,
    Resident,
    User,
    UssdSessionLog,
    VillageVisit,
)
from storage.vocab import DOC_TYPES, REQUEST_STATUSES

ALL = ("admin", "staff", "village_officer")
OFFICE = ("admin", "staff")
PAGE = 100


def _done(message: str, endpoint: str, **values: Any) -> Response:
    flash(message, "ok")
    return redirect(url_for(endpoint, **values))  # type: ignore[return-value]


def _failed(error: Exception, endpoint: str, **values: Any) -> Response:
    flash(str(error), "error")
    return redirect(url_for(endpoint, **values))  # type: ignore[return-value]


def _actor() -> str:
    return str(current_user.username)


def _scoped(query: Any, column: Any) -> Any:
    scope = village_scope()
    return query.where(column == scope) if scope else query


def _parse_date(raw: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ActionError(translate("Not a date: {value}", value=raw)) from None


def _parse_time(raw: str) -> dt.time:
    try:
        return dt.datetime.strptime(raw, "%H:%M").time()
    except ValueError:
        raise ActionError(translate("Not a time: {value}", value=raw)) from None


def _parse_local_moment(date: str, time: str) -> dt.datetime:
    """A date and time typed in the console (WITA), or a message staff can act on — never
    Python's "time data ... does not match format"."""
    if not date.strip() and not time.strip():
        raise ActionError(translate("Choose a date and time."))
    try:
        return dt.datetime.strptime(f"{date} {time}", "%Y-%m-%d %H:%M").replace(tzinfo=LOCAL_TZ)
    except ValueError:
        raise ActionError(
            translate("Not a date and time: {value}", value=f"{date} {time}".strip())
        ) from None


# --- dashboard ------------------------------------------------------------------------------------


@bp.get("/")
@roles(*ALL)
def dashboard() -> str:
    rt = runtime()
    today = local_today()
    since = dt.datetime.combine(today - dt.timedelta(days=13), dt.time(), LOCAL_TZ)
    scope = village_scope()
    with rt.db.begin() as session:
        messages = _by_day(
            session,
            OutboxMessage.created_at,
            OutboxMessage.status,
            since,
            None
            if not scope
            else OutboxMessage.recipient.in_(
                select(Resident.phone).where(Resident.village_code == scope)
            ),
        )
        journeys = _by_day(
            session,
            UssdSessionLog.started_at,
            UssdSessionLog.journey,
            since,
            None
            if not scope
            else UssdSessionLog.phone.in_(
                select(Resident.phone).where(Resident.village_code == scope)
            ),
        )
        open_by_district: dict[str, int] = defaultdict(int)
        query = _scoped(
            select(HomeVisitBooking.village_code, func.count())
            .where(HomeVisitBooking.status.in_(("requested", "scheduled")))
            .group_by(HomeVisitBooking.village_code),
            HomeVisitBooking.village_code,
        )
        for code, n in session.execute(query):
            district = rt.regions.by_code.get(code)
            open_by_district[rt.regions.name(district.parent_code if district else None)] += n
        visits = session.scalars(
            _scoped(
                select(VillageVisit)
                .where(VillageVisit.visit_date >= today, VillageVisit.cancelled.is_(False))
                .order_by(VillageVisit.visit_date)
                .limit(10),
                VillageVisit.village_code,
            )
        ).all()
        requests_open = (
            session.scalar(
                _scoped(
                    select(func.count())
                    .select_from(DocumentRequest)
                    .where(DocumentRequest.status.in_(("submitted", "processing", "ready"))),
                    DocumentRequest.village_code,
                )
            )
            or 0
        )
    days = [today - dt.timedelta(days=13 - i) for i in range(14)]
    today_counts = {k: v.get(today, 0) for k, v in _pivot(messages).items()}
    return render_template(
        "console/dashboard.html",
        visits=visits,
        rt=rt,
        requests_open=requests_open,
        sent_today=sum(today_counts.get(s, 0) for s in ("sent", "delivered")),
        failed_today=today_counts.get("failed", 0),
        sessions_today=sum(n for (d, _), n in journeys.items() if d == today),
        open_bookings=sum(open_by_district.values()),
        messages_chart=_bar_chart(days, _pivot(messages), STATUS_COLOURS),
        journeys_chart=_bar_chart(days, _pivot(journeys), JOURNEY_COLOURS),
        bookings_chart=_hbar_chart(dict(open_by_district)),
    )


STATUS_COLOURS = {
    "delivered": "#1b7f3b",
    "sent": "#6cbf84",
    "queued": "#9aa5b1",
    "sending": "#c9d1d9",
    "failed": "#c0392b",
    "cancelled": "#6b4f2a",
}
JOURNEY_COLOURS = {
    "status": "#1f5f99",
    "home_visit": "#b35c00",
    "next_visit": "#1b7f3b",
    "priority": "#7a3e9d",
    "language": "#6b7280",
    "None": "#c9d1d9",
}


def _by_day(
    session: Session, stamp: Any, category: Any, since: dt.datetime, where: Any
) -> dict[tuple[dt.date, str], int]:
    query = select(stamp, category).where(stamp >= since.astimezone(dt.UTC))
    if where is not None:
        query = query.where(where)
    counts: dict[tuple[dt.date, str], int] = defaultdict(int)
    for moment, value in session.execute(query):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        counts[(moment.astimezone(LOCAL_TZ).date(), str(value))] += 1
    return counts


def _pivot(counts: dict[tuple[dt.date, str], int]) -> dict[str, dict[dt.date, int]]:
    series: dict[str, dict[dt.date, int]] = defaultdict(dict)
    for (day, category), n in counts.items():
        series[category][day] = n
    return series


def _bar_chart(
    days: list[dt.date], series: dict[str, dict[dt.date, int]], colours: dict[str, str]
) -> Markup:
    """A stacked bar chart as inline SVG: no JavaScript, fast on an old PC, prints well."""
    width, height, bar = 560, 160, 28
    totals = [sum(s.get(d, 0) for s in series.values()) for d in days]
    if not any(totals):
        return Markup(f'<p class="muted">{escape(translate("No data yet."))}</p>')
    top = max([*totals, 1])
    parts = [f'<svg viewBox="0 0 {width} {height + 40}" role="img" class="chart">']
    for i, day in enumerate(days):
        x, y = 10 + i * (bar + 11), float(height)
        for name in colours:
            n = series.get(name, {}).get(day, 0)
            if not n:
                continue
            h = n / top * (height - 10)
            y -= h
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" '
                f'fill="{colours[name]}"><title>{day:%d %b} {escape(translate(name))}: '
                f"{n}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar / 2}" y="{height + 14}" text-anchor="middle">{day:%d}</text>'
        )
        if totals[i]:
            parts.append(
                f'<text x="{x + bar / 2}" y="{y - 3:.1f}" text-anchor="middle" '
                f'class="total">{totals[i]}</text>'
            )
    legend_x = 10
    for name, colour in colours.items():
        if name in series:
            parts.append(
                f'<rect x="{legend_x}" y="{height + 24}" width="10" height="10" '
                f'fill="{colour}"/><text x="{legend_x + 14}" y="{height + 33}">'
                f"{escape(translate(name))}</text>"
            )
            legend_x += 24 + 8 * len(translate(name))
    parts.append("</svg>")
    return Markup("".join(parts))


def _hbar_chart(values: dict[str, int]) -> Markup:
    if not values:
        return Markup(f"<p>{escape(translate('No open bookings.'))}</p>")
    top = max(values.values())
    rows = "".join(
        f'<tr><th scope="row">{escape(name)}</th><td><span class="hbar" '
        f'style="width:{max(4, int(n / top * 300))}px"></span> {n}</td></tr>'
        for name, n in sorted(values.items(), key=lambda kv: -kv[1])
    )
    return Markup(f'<table class="hbars">{rows}</table>')


# --- village visits ---------------------------------------------------------------------------


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
        rows = session.scalars(_scoped(query.limit(PAGE), VillageVisit.village_code)).all()
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
                    _actor(),
                    village_code=village.code,
                    visit_date=_parse_date(form.get("date", "")),
                    start=_parse_time(form.get("start", "")),
                    end=_parse_time(form.get("end", "")),
                    place=form.get("place", ""),
                    bring=form.get("bring"),
                    publish=False,
                )
        except (ActionError, ValueError) as error:
            flash(str(error), "error")
            return render_template("console/visit_form.html", visit=None, form=form, rt=rt)
        return _done(
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
                _actor(),
                visit_id,
                visit_date=_parse_date(form.get("date", "")),
                start=_parse_time(form.get("start", "")),
                end=_parse_time(form.get("end", "")),
                place=form.get("place", ""),
                bring=form.get("bring", ""),
            )
    except ActionError as error:
        flash(str(error), "error")
        return render_template("console/visit_form.html", visit=visit, form=form, rt=rt)
    rt.dispatch()
    return _done(
        translate("Visit changed; {n} resident(s) already told get the change.", n=told),
        "staff.visits",
    )


@bp.post("/visits/<int:visit_id>/cancel")
@roles(*OFFICE)
def visit_cancel(visit_id: int) -> Response:
    rt = runtime()
    try:
        with rt.db.begin() as session:
            told = staff_actions.cancel_visit(session, rt.resident_sms, _actor(), visit_id)
    except ActionError as error:
        return _failed(error, "staff.visits")
    rt.dispatch()
    return _done(translate("Visit cancelled; {n} resident(s) are told.", n=told), "staff.visits")


@bp.route("/visits/<int:visit_id>/publish", methods=["GET", "POST"])
@roles(*OFFICE)
def visit_publish(visit_id: int) -> str | Response:
    """The broadcast preview of a visit: who will be told, what they read, what it costs."""
    rt = runtime()
    with rt.db.begin() as session:
        visit = session.get(VillageVisit, visit_id) or abort(404)
        if request.method == "POST":
            try:
                staff_actions.publish_visit(session, rt.resident_sms, _actor(), visit_id)
            except ActionError as error:
                return _failed(error, "staff.visits")
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
    return _done(translate("Visit published."), "staff.broadcast", broadcast_id=broadcast_id)


# --- broadcasts -------------------------------------------------------------------------------


@bp.get("/broadcasts")
@roles(*OFFICE)
def broadcasts() -> str:
    rt = runtime()
    with rt.db.begin() as session:
        rows = session.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(PAGE)).all()
    return render_template("console/broadcasts.html", broadcasts=rows, rt=rt)


def _audience_from(form: Any, rt: Runtime) -> Any:
    kind = form.get("audience", "village")
    if kind == "village":
        return rt.resident_sms.audience(village=form.get("village", ""))
    if kind == "district":
        return rt.resident_sms.audience(district=form.get("district", ""))
    if kind == "status":
        status = form.get("request_status", "")
        if status not in REQUEST_STATUSES:
            raise ActionError(translate("Choose a request status."))
        return rt.resident_sms.audience(request_status=status)
    if kind == "all":
        return rt.resident_sms.audience(everyone=True)
    raise ActionError(translate("Choose who receives it."))


@bp.route("/broadcasts/new", methods=["GET", "POST"])
@roles(*OFFICE)
def broadcast_new() -> str | Response:
    rt = runtime()
    form = request.form if request.method == "POST" else request.args
    context: dict[str, Any] = {
        "form": form,
        "rt": rt,
        "statuses": REQUEST_STATUSES,
        "price": float(rt.config["SMS_PRICE_PER_SEGMENT"]),
        "currency": rt.config["SMS_CURRENCY"],
    }
    if request.method == "GET":
        return render_template("console/broadcast_form.html", preview=None, **context)
    text = form.get("text", "").strip()
    try:
        if not text:
            raise ActionError(translate("Write the message."))
        audience = _audience_from(form, rt)
        send_at = None
        if form.get("when") == "later":
            day, _, hour = form.get("send_at", "").partition("T")  # <input type=datetime-local>
            send_at = _parse_local_moment(day, hour).astimezone(dt.UTC)
        with rt.db.begin() as session:
            if form.get("step") != "send":
                recipients = rt.resident_sms.recipients(session, audience)
                english = form.get("text_en", "").strip()
                in_english = sum(1 for _, lang in recipients if lang == "en") if english else 0
                count, count_en = count_segments(text), count_segments(english or text)
                return render_template(
                    "console/broadcast_form.html",
                    preview={
                        "audience": audience.label,
                        "recipients": len(recipients),
                        "count": count,
                        "odd": non_gsm_characters(text + english),
                        "english": english,
                        "in_english": in_english,
                        "count_en": count_en,
                        "cost": (
                            (len(recipients) - in_english) * count.segments
                            + in_english * count_en.segments
                        )
                        * context["price"],
                    },
                    **context,
                )
            planned = staff_actions.plan_broadcast(
                session,
                rt.resident_sms,
                _actor(),
                audience,
                text,
                send_at,
                translations={"en": form.get("text_en", "").strip()},
            )
            broadcast_id = planned.id
    except ValueError as error:  # ActionError, an unknown village, a malformed date
        flash(str(error), "error")
        return render_template("console/broadcast_form.html", preview=None, **context)
    rt.dispatch(inline=True)
    return _done(translate("Broadcast queued."), "staff.broadcast", broadcast_id=broadcast_id)


def _progress(session: Session, broadcast: Broadcast) -> dict[str, Any]:
    counts = outbox.counts_by_status(session, broadcast.id)
    total = sum(counts.values())
    finished = sum(counts.get(s, 0) for s in ("sent", "delivered", "failed", "cancelled"))
    return {
        "id": broadcast.id,
        "status": broadcast.status,
        "total": total,
        "counts": counts,
        "percent": round(100 * finished / total) if total else 100,
        "done": finished == total,
    }


@bp.get("/broadcasts/<int:broadcast_id>")
@roles(*OFFICE)
def broadcast(broadcast_id: int) -> str:
    rt = runtime()
    with rt.db.begin() as session:
        row = session.get(Broadcast, broadcast_id) or abort(404)
        progress = _progress(session, row)
    return render_template("console/broadcast.html", broadcast=row, progress=progress, rt=rt)


@bp.get("/broadcasts/<int:broadcast_id>/progress.json")
@roles(*OFFICE)
def broadcast_progress(broadcast_id: int) -> Response:
    with runtime().db.begin() as session:
        row = session.get(Broadcast, broadcast_id) or abort(404)
        return jsonify(_progress(session, row))


@bp.post("/broadcasts/<int:broadcast_id>/cancel")
@roles(*OFFICE)
def broadcast_cancel(broadcast_id: int) -> Response:
    try:
        with runtime().db.begin() as session:
            n = staff_actions.cancel_broadcast(session, _actor(), broadcast_id)
    except ActionError as error:
        return _failed(error, "staff.broadcasts")
    return _done(
        translate("{n} message(s) not yet sent were cancelled.", n=n),
        "staff.broadcast",
        broadcast_id=broadcast_id,
    )


# --- document requests ------------------------------------------------------------------------


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
        rows = session.scalars(_scoped(query.limit(PAGE), DocumentRequest.village_code)).all()
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
        return _failed(
            ActionError(translate("Choose at least one request.")), "staff.requests_page"
        )
    try:
        with rt.db.begin() as session:
            for number in chosen:
                found = session.scalar(
                    _scoped(
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
                    _actor(),
                    number,
                    status,
                    request.form.get("pickup") or None,
                )
    except ActionError as error:
        return _failed(error, "staff.requests_page")
    rt.dispatch()
    return _done(
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
                    _actor(),
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
        return _done(
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
                        _actor(),
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


# --- home-visit bookings ----------------------------------------------------------------------


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
        rows = session.scalars(_scoped(query.limit(PAGE), HomeVisitBooking.village_code)).all()
    return render_template(
        "console/bookings.html", bookings=rows, rt=rt, status=status, district=district
    )


@bp.post("/bookings/<number>/<step>")
@roles(*OFFICE)
def booking_step(number: str, step: str) -> Response:
    rt = runtime()
    try:
        with rt.db.begin() as session:
            if step == "schedule":
                local = _parse_local_moment(
                    request.form.get("date", ""), request.form.get("time", "")
                )
                staff_actions.schedule_booking(
                    session, rt.resident_sms, _actor(), number, local, request.form.get("team")
                )
            elif step in ("done", "cancelled"):
                staff_actions.close_booking(session, rt.resident_sms, _actor(), number, step)
            else:
                abort(404)
    except ValueError as error:
        return _failed(error, "staff.bookings")
    rt.dispatch()
    return _done(
        translate("Booking {number} updated; the resident is told by SMS.", number=number),
        "staff.bookings",
    )


# --- outbox -----------------------------------------------------------------------------------


@bp.get("/outbox")
@roles(*OFFICE)
def outbox_page() -> str:
    rt = runtime()
    status = request.args.get("status", "")
    phone = to_e164(request.args.get("phone", "")) if request.args.get("phone") else None
    with rt.db.begin() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(PAGE)
        if status:
            query = query.where(OutboxMessage.status == status)
        if phone:
            query = query.where(OutboxMessage.recipient == phone)
        rows = session.scalars(query).all()
        counts = outbox.counts_by_status(session)
    return render_template(
        "console/outbox.html",
        messages=rows,
        counts=counts,
        status=status,
        phone=request.args.get("phone", ""),
    )


@bp.post("/outbox/retry")
@roles(*OFFICE)
def outbox_retry() -> Response:
    rt = runtime()
    ids = [int(i) for i in request.form.getlist("ids") if i.isdigit()]
    from storage.models import utcnow

    with rt.db.begin() as session:
        n = outbox.retry_failed(session, ids or None, utcnow())
        staff_actions.audit(
            session,
            _actor(),
            "outbox.retry",
            "outbox",
            ",".join(map(str, ids)) or "all-failed",
            after={"requeued": n},
        )
    rt.dispatch()
    return _done(translate("{n} message(s) queued again.", n=n), "staff.outbox_page")


# --- residents --------------------------------------------------------------------------------


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
        rows = session.scalars(_scoped(query.limit(PAGE), Resident.village_code)).all()
    return render_template("console/residents.html", residents=rows, rt=rt, q=q)


@bp.post("/residents/<int:resident_id>")
@roles(*OFFICE)
def resident_update(resident_id: int) -> Response:
    rt = runtime()
    with rt.db.begin() as session:
        resident = session.get(Resident, resident_id) or abort(404)
        before = {"opted_out": resident.opted_out, "language": resident.language}
        resident.opted_out = request.form.get("opted_out") == "1"
        language = request.form.get("language", resident.language)
        if language in rt.catalogs:
            resident.language = language
        staff_actions.audit(
            session,
            _actor(),
            "resident.update",
            "resident",
            resident.phone,
            before,
            {"opted_out": resident.opted_out, "language": resident.language},
        )
        phone = resident.phone
    rt.store.forget_profile(phone)
    return _done(translate("Resident updated."), "staff.residents", q=phone)


# --- users and audit (admin) ------------------------------------------------------------------


@bp.route("/users", methods=["GET", "POST"])
@roles("admin")
def users() -> str | Response:
    rt = runtime()
    if request.method == "POST":
        form = request.form
        try:
            role = form.get("role", "")
            if role not in STAFF_ROLES:
                raise ActionError(translate("Choose a role."))
            username = form.get("username", "").strip()
            password = form.get("password", "")
            if not username or len(password) < 10:
                raise ActionError(
                    translate("A user name, and a password of 10 characters or more.")
                )
            village = (
                rt.regions.find_village(form.get("village", "")).code
                if role == "village_officer"
                else None
            )
            with rt.db.begin() as session:
                if session.scalar(select(User.id).where(User.username == username)):
                    raise ActionError(translate("That user name is taken."))
                session.add(
                    User(
                        username=username,
                        password_hash=hash_password(password),
                        role=role,
                        village_code=village,
                        language="id",
                        active=True,
                    )
                )
                staff_actions.audit(
                    session,
                    _actor(),
                    "user.create",
                    "user",
                    username,
                    after={"role": role, "village_code": village},
                )
        except ValueError as error:
            return _failed(error, "staff.users")
        return _done(translate("User created."), "staff.users")
    with rt.db.begin() as session:
        rows = session.scalars(select(User).order_by(User.username)).all()
    return render_template("console/users.html", users=rows, rt=rt, roles=STAFF_ROLES)


MIN_PASSWORD = 10


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        abort(404)
    return user


@bp.post("/users/<username>/active")
@roles("admin")
def user_active(username: str) -> Response:
    """Switch a log-in off (someone left) or on again. Their open sessions end at their next
    page: a user who is not active is not loaded."""
    active = request.form.get("active") == "1"
    try:
        if username == _actor() and not active:
            raise ActionError(translate("You cannot switch off your own log-in."))
        with runtime().db.begin() as session:
            user = _user(session, username)
            before, user.active = user.active, active
            staff_actions.audit(
                session,
                _actor(),
                "user.active",
                "user",
                username,
                before={"active": before},
                after={"active": active},
            )
    except ValueError as error:
        return _failed(error, "staff.users")
    return _done(translate("User {username} updated.", username=username), "staff.users")


@bp.post("/users/<username>/password")
@roles("admin")
def user_password(username: str) -> Response:
    """An admin sets a new password for someone who forgot theirs (told to them in person)."""
    password = request.form.get("password", "")
    try:
        if len(password) < MIN_PASSWORD:
            raise ActionError(translate("A password of 10 characters or more."))
        with runtime().db.begin() as session:
            _user(session, username).password_hash = hash_password(password)
            staff_actions.audit(session, _actor(), "user.password", "user", username)
    except ValueError as error:
        return _failed(error, "staff.users")
    return _done(translate("User {username} updated.", username=username), "staff.users")


@bp.route("/password", methods=["GET", "POST"])
@roles(*ALL)
def own_password() -> str | Response:
    """Anyone logged in changes their own password, after typing the current one."""
    if request.method == "GET":
        return render_template("console/password.html")
    form = request.form
    try:
        new = form.get("new", "")
        if len(new) < MIN_PASSWORD:
            raise ActionError(translate("A password of 10 characters or more."))
        if new != form.get("again", ""):
            raise ActionError(translate("The two new passwords differ."))
        with runtime().db.begin() as session:
            user = _user(session, _actor())
            if not check_password(user.password_hash, form.get("current", "")):
                raise ActionError(translate("The current password is wrong."))
            user.password_hash = hash_password(new)
            staff_actions.audit(session, _actor(), "user.password", "user", user.username)
    except ValueError as error:
        return _failed(error, "staff.own_password")
    return _done(translate("Password changed."), "staff.dashboard")


@bp.get("/audit")
@roles("admin")
def audit_log() -> str:
    with runtime().db.begin() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(200)).all()
    return render_template("console/audit.html", entries=rows)
