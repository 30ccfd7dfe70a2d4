"""Broadcasts: writing one (audience, text, an English version, now or later) with a preview
of who receives it and what it costs, then following its progress and cancelling the rest."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, abort, flash, jsonify, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from common.segments import count_segments, non_gsm_characters
from gateway import staff_actions
from gateway.console import bp, translate
from gateway.console.auth import OFFICE, roles
from gateway.console.shared import PAGE, actor, done, failed, parse_local_moment
from gateway.runtime import Runtime, runtime
from gateway.staff_actions import ActionError
from storage import outbox
from storage.models import Broadcast
from storage.vocab import REQUEST_STATUSES


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
            send_at = parse_local_moment(day, hour).astimezone(dt.UTC)
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
                actor(),
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
    return done(translate("Broadcast queued."), "staff.broadcast", broadcast_id=broadcast_id)


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
            n = staff_actions.cancel_broadcast(session, actor(), broadcast_id)
    except ActionError as error:
        return failed(error, "staff.broadcasts")
    return done(
        translate("{n} message(s) not yet sent were cancelled.", n=n),
        "staff.broadcast",
        broadcast_id=broadcast_id,
    )
