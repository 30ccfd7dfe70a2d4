"""The outbox: every SMS the product owes, by status or phone, with the reason a message
failed; failed ones can be queued again."""

from __future__ import annotations

from flask import Response, render_template, request
from sqlalchemy import select

from gateway import staff_actions
from gateway.console import bp, translate
from gateway.console.auth import OFFICE, roles
from gateway.console.shared import PAGE, CheckedIds, ConsoleForm, actor, done
from gateway.phones import to_e164
from gateway.runtime import runtime
from storage import outbox
from storage.models import OutboxMessage, utcnow


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


class RetryForm(ConsoleForm):
    ids = CheckedIds()  # none ticked: every failed message


@bp.post("/outbox/retry")
@roles(*OFFICE)
def outbox_retry() -> Response:
    rt = runtime()
    ids = RetryForm().ids.data
    with rt.db.begin() as session:
        n = outbox.retry_failed(session, ids or None, utcnow())
        staff_actions.audit(
            session,
            actor(),
            "outbox.retry",
            "outbox",
            ",".join(map(str, ids)) or "all-failed",
            after={"requeued": n},
        )
    rt.dispatch()
    return done(translate("{n} message(s) queued again.", n=n), "staff.outbox_page")
