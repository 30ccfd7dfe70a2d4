"""Call-back requests ("Minta ditelepon petugas", the USSD contact menu and BANTUAN by SMS): the
queue staff work through, oldest first, each marked called or not reached (audited). Admins
and staff only: a village officer does not call residents for the office."""

from __future__ import annotations

from flask import Response, abort, render_template, request

from gateway import staff_actions
from gateway.console import bp, translate
from gateway.console.auth import OFFICE, roles
from gateway.console.shared import actor, done, failed
from gateway.runtime import runtime
from storage.queries import callbacks

STATUSES = ("waiting", "open", "not_reached", "called", "")


@bp.get("/callbacks")
@roles(*OFFICE)
def callbacks_page() -> str:
    rt = runtime()
    status = request.args.get("status", "waiting")
    if status not in STATUSES:
        status = "waiting"
    with rt.db.begin() as session:
        rows = callbacks.queue(session, status)
        session.expunge_all()
    return render_template("console/callbacks.html", rows=rows, status=status)


@bp.post("/callbacks/<id:request_id>/<step>")
@roles(*OFFICE)
def callback_step(request_id: int, step: str) -> Response:
    if step not in staff_actions.CALLBACK_OUTCOMES:
        abort(404)
    rt = runtime()
    try:
        with rt.db.begin() as session:
            staff_actions.mark_callback(session, rt.resident_sms, actor(), request_id, step)
    except ValueError as error:
        return failed(error, "staff.callbacks_page")
    rt.dispatch()
    return done(translate("Call-back request updated."), "staff.callbacks_page")
