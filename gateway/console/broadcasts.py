"""Broadcasts: writing one (audience, text, an English version, now or later) with a preview
of who receives it and what it costs, then following its progress and cancelling the rest."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any

from flask import Response, abort, flash, jsonify, render_template, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from wtforms import Field, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from common.local_time import as_utc
from common.segments import count_segments, non_gsm_characters
from gateway import staff_actions
from gateway.broadcasts import Audience
from gateway.console import bp, lazy_translate, translate
from gateway.console.auth import OFFICE, roles
from gateway.console.formatting import say
from gateway.console.shared import (
    PAGE,
    ConsoleForm,
    actor,
    done,
    failed,
    local_moment,
    strip,
)
from gateway.runtime import runtime
from gateway.staff_actions import ActionError
from storage import outbox
from storage.models import Broadcast, OutboxMessage, utcnow
from storage.vocab import REQUEST_STATUSES
from workers.routing import messages_per_second


@bp.get("/broadcasts")
@roles(*OFFICE)
def broadcasts() -> str:
    rt = runtime()
    with rt.db.begin() as session:
        rows = session.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(PAGE)).all()
        counts: dict[int, dict[str, int]] = defaultdict(dict)
        query = (
            select(OutboxMessage.broadcast_id, OutboxMessage.status, func.count())
            .where(OutboxMessage.broadcast_id.in_([b.id for b in rows]))
            .group_by(OutboxMessage.broadcast_id, OutboxMessage.status)
        )
        for broadcast_id, status, n in session.execute(query):
            counts[broadcast_id][status] = int(n)
        states = {b.id: state_of(b, counts.get(b.id, {})) for b in rows}
        shown = {n: (state, translate(STATE_NAMES[state])) for n, state in states.items()}
    return render_template("console/broadcasts.html", broadcasts=rows, rt=rt, states=shown)


# A broadcast's state, derived from its row and its messages (no column of its own to keep in
# step): planned (waiting for its time), sending, sent, finished with failures, or cancelled.
FINISHED = ("sent", "delivered", "failed", "cancelled")
STATE_NAMES = {
    "planned": "planned",
    "sending": "sending",
    "sent": "sent",
    "failures": "finished with failures",
    "cancelled": "cancelled",
}


def state_of(broadcast: Broadcast, counts: dict[str, int], now: dt.datetime | None = None) -> str:
    """One of STATE_NAMES, from the broadcast's row and its messages counted by status."""
    if broadcast.status == "cancelled":
        return "cancelled"
    total = sum(counts.values())
    waiting = total - sum(counts.get(s, 0) for s in FINISHED)
    if waiting:
        untouched = counts.get("queued", 0) == total
        due = as_utc(broadcast.send_at) <= (now or utcnow())
        return "sending" if due or not untouched else "planned"
    return "failures" if counts.get("failed") else "sent"


AUDIENCES = ("village", "district", "status", "all")
# Ten SMS segments: a broadcast is paid per segment and per resident.
LONGEST_MESSAGE = Length(max=1600, message=lazy_translate("The message: at most 1,600 characters."))


class BroadcastForm(ConsoleForm):
    """A broadcast: the text (and its English version), who receives it, and when."""

    text = TextAreaField(
        filters=[strip],
        validators=[DataRequired(lazy_translate("Write the message.")), LONGEST_MESSAGE],
    )
    audience = StringField(default="village")
    village = StringField(default="")
    district = StringField(default="")
    request_status = StringField(default="")
    text_en = TextAreaField(filters=[strip], validators=[LONGEST_MESSAGE])
    when = StringField(default="now")  # now | later
    send_at = StringField(default="")  # <input type=datetime-local>: 2026-12-03T10:30
    step = StringField(default="preview")  # preview | send

    chosen: Audience | None = None  # once validated
    send_at_utc: dt.datetime | None = None  # None: now

    def validate_audience(self, field: Field) -> None:
        kind = field.data
        if kind not in AUDIENCES:
            raise ValidationError(translate("Choose who receives it."))
        if kind == "village" and not self.village.data.strip():
            raise ValidationError(translate("Choose a village."))
        if kind == "status" and self.request_status.data not in REQUEST_STATUSES:
            raise ValidationError(translate("Choose a request status."))
        try:
            self.chosen = runtime().resident_sms.audience(
                village=self.village.data if kind == "village" else None,
                district=self.district.data if kind == "district" else None,
                request_status=self.request_status.data if kind == "status" else None,
                everyone=kind == "all",
            )
        except ValueError as error:  # an unknown village or district
            raise ValidationError(say(error)) from None

    def validate_send_at(self, field: Field) -> None:
        if self.when.data == "later":
            day, _, hour = field.data.partition("T")
            self.send_at_utc = local_moment(day, hour).astimezone(dt.UTC)


@bp.route("/broadcasts/new", methods=["GET", "POST"])
@roles(*OFFICE)
def broadcast_new() -> str | Response:
    rt = runtime()
    # A link may open the composer with its fields filled in (?audience=status&…).
    form = BroadcastForm() if request.method == "POST" else BroadcastForm(formdata=request.args)
    context: dict[str, Any] = {
        "form": form,
        "rt": rt,
        "statuses": REQUEST_STATUSES,
        "price": float(rt.config["SMS_PRICE_PER_SEGMENT"]),
        "currency": rt.config["SMS_CURRENCY"],
    }
    if request.method == "GET":
        return render_template("console/broadcast_form.html", preview=None, **context)
    try:
        form.check()
        assert form.chosen is not None
        with rt.db.begin() as session:
            if form.step.data != "send":
                return render_template(
                    "console/broadcast_form.html",
                    preview=_preview(session, form, context["price"]),
                    **context,
                )
            planned = staff_actions.plan_broadcast(
                session,
                rt.resident_sms,
                actor(),
                form.chosen,
                form.text.data,
                form.send_at_utc,
                translations={"en": form.text_en.data},
            )
            broadcast_id = planned.id
    except ValueError as error:  # the form's or the action's (ActionError)
        flash(say(error), "error")
        return render_template("console/broadcast_form.html", preview=None, **context)
    rt.dispatch()
    return done(translate("Broadcast queued."), "staff.broadcast", broadcast_id=broadcast_id)


def _preview(session: Session, form: BroadcastForm, price: float) -> dict[str, Any]:
    """Who receives it, how many segments each text takes, and what it costs: nothing is
    written."""
    assert form.chosen is not None
    recipients = runtime().resident_sms.recipients(session, form.chosen)
    text, english = form.text.data, form.text_en.data
    in_english = sum(1 for _, lang in recipients if lang == "en") if english else 0
    count, count_en = count_segments(text), count_segments(english or text)
    rt = runtime()
    via, rate = messages_per_second(rt.sms_provider, rt.config, count.segments)
    return {
        "audience": form.chosen.label,  # named by the template's audience filter
        "recipients": len(recipients),
        "count": count,
        "odd": non_gsm_characters(text + english),
        "english": english,
        "in_english": in_english,
        "count_en": count_en,
        "cost": ((len(recipients) - in_english) * count.segments + in_english * count_en.segments)
        * price,
        # At the rate of the provider that takes Indonesian numbers now (an Android phone
        # sends a few a minute): "about N minutes"; None when no rate limits it.
        "minutes": math.ceil(len(recipients) / rate / 60) if rate > 0 and recipients else None,
        "via": via,
    }


def _progress(session: Session, broadcast: Broadcast) -> dict[str, Any]:
    counts = outbox.counts_by_status(session, broadcast.id)
    total = sum(counts.values())
    finished = sum(counts.get(s, 0) for s in ("sent", "delivered", "failed", "cancelled"))
    state = state_of(broadcast, counts)
    return {
        "id": broadcast.id,
        "status": broadcast.status,
        "state": state,
        "state_text": translate(STATE_NAMES[state]),
        "total": total,
        "counts": counts,
        "percent": round(100 * finished / total) if total else 100,
        "done": finished == total,
    }


@bp.get("/broadcasts/<id:broadcast_id>")
@roles(*OFFICE)
def broadcast(broadcast_id: int) -> str:
    rt = runtime()
    with rt.db.begin() as session:
        row = session.get(Broadcast, broadcast_id) or abort(404)
        progress = _progress(session, row)
    return render_template("console/broadcast.html", broadcast=row, progress=progress, rt=rt)


@bp.get("/broadcasts/<id:broadcast_id>/progress.json")
@roles(*OFFICE)
def broadcast_progress(broadcast_id: int) -> Response:
    with runtime().db.begin() as session:
        row = session.get(Broadcast, broadcast_id) or abort(404)
        return jsonify(_progress(session, row))


@bp.post("/broadcasts/<id:broadcast_id>/cancel")
@roles(*OFFICE)
def broadcast_cancel(broadcast_id: int) -> Response:
    try:
        with runtime().db.begin() as session:
            n = staff_actions.cancel_broadcast(session, actor(), broadcast_id)
    except ActionError as error:
        return failed(error, "staff.broadcasts")
    return done(
        translate("{n} message(s) not yet sent were cancelled.", n=n),
        "staff.broadcast",
        broadcast_id=broadcast_id,
    )
