"""``flask --app gateway sessions``: the USSD session log, which web processes write in
batches."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from gateway.cli.common import ensure_schema
from gateway.runtime import runtime

sessions_cli = AppGroup("sessions", help="The USSD session log.")


@sessions_cli.command("flush")
def sessions_flush() -> None:
    """Write all queued session records to the database now (web processes write batches
    every few seconds)."""
    ensure_schema()
    click.echo(f"{runtime().session_log.flush(force=True)} session record(s) written")
