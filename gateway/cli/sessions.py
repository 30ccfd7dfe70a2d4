"""``flask --app gateway sessions``: the USSD session log, which web processes write in
batches."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from gateway.cli.common import actor_option, ensure_schema
from gateway.runtime import runtime
from gateway.staff_actions import audit

sessions_cli = AppGroup("sessions", help="The USSD session log.")


@sessions_cli.command("flush")
@actor_option
def sessions_flush(actor: str) -> None:
    """Write all queued session records to the database now (web processes write batches
    every few seconds)."""
    ensure_schema()
    rt = runtime()
    written = rt.session_log.flush(force=True)
    with rt.db.begin() as session:
        audit(
            session, actor, "sessions.flush", "ussd_session_log", None, after={"written": written}
        )
    click.echo(f"{written} session record(s) written")
