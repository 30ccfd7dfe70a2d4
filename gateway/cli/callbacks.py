"""``flask --app gateway callbacks``: residents who asked to be called by staff ("Minta
ditelepon petugas", by USSD or BANTUAN by SMS) -- the console's call-back queue."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from common.local_time import LOCAL_TZ, as_utc
from gateway import staff_actions
from gateway.cli.common import actor_option, ensure_schema
from gateway.runtime import runtime
from gateway.staff_actions import ActionError
from storage.queries import callbacks

callbacks_cli = AppGroup("callbacks", help="Call-back requests (residents to call back).")


@callbacks_cli.command("list")
@click.option(
    "--status",
    type=click.Choice(("waiting", "open", "not_reached", "called", "all")),
    default="waiting",
    show_default=True,
    help="waiting: open or not reached yet, oldest first.",
)
def callbacks_list(status: str) -> None:
    """The queue: id, status, when asked (WITA), phone, about what, language, channel."""
    ensure_schema()
    with runtime().db.begin() as session:
        for r in callbacks.queue(session, "" if status == "all" else status):
            asked = as_utc(r.created_at).astimezone(LOCAL_TZ)
            click.echo(
                f"{r.id:>6}  {r.status:<11} {asked:%Y-%m-%d %H:%M}  {r.phone}  "
                f"{r.reason:<15} {r.language} {r.channel}"
            )


@callbacks_cli.command("mark")
@click.argument("request_id", type=click.IntRange(1, 2**31 - 1))
@click.argument("outcome", type=click.Choice(staff_actions.CALLBACK_OUTCOMES))
@actor_option
def callbacks_mark(request_id: int, outcome: str, actor: str) -> None:
    """Mark a call-back request called, or not reached (it stays in the queue, and the
    resident is told by SMS that the missed call was the office's)."""
    ensure_schema()
    rt = runtime()
    try:
        with rt.db.begin() as session:
            staff_actions.mark_callback(session, rt.resident_sms, actor, request_id, outcome)
    except ActionError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"call-back request {request_id}: {outcome}")
    rt.dispatch(inline=True)
