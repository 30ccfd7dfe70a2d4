"""The audit log (admins): who changed what, with the record before and after."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import select

from gateway.console import bp
from gateway.console.auth import roles
from gateway.runtime import runtime
from storage.models import AuditEntry

SHOWN = 200  # the newest entries


@bp.get("/audit")
@roles("admin")
def audit_log() -> str:
    with runtime().db.begin() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(SHOWN)).all()
    return render_template("console/audit.html", entries=rows)
