"""``flask --app gateway bookings``: Sidakep home-visit bookings, which residents ask for by
USSD; each step is confirmed to the resident by SMS."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup
from sqlalchemy import select

from common.local_time import LOCAL_TZ
from gateway import staff_actions
from gateway.cli.common import actor_option, ensure_schema, parse_local_datetime
from gateway.runtime import runtime
from gateway.staff_actions import ActionError
from storage.models import HomeVisitBooking

bookings_cli = AppGroup("bookings", help="Sidakep home-visit bookings.")


@bookings_cli.command("list")
@click.option("--status", type=click.Choice(("requested", "scheduled", "done", "cancelled")))
def bookings_list(status: str | None) -> None:
    """Bookings, newest first."""
    ensure_schema()
    rt = runtime()
    with rt.db.begin() as session:
        query = select(HomeVisitBooking).order_by(HomeVisitBooking.id.desc()).limit(200)
        if status:
            query = query.where(HomeVisitBooking.status == status)
        for b in session.scalars(query):
            when = (
                f"{b.scheduled_for.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}" if b.scheduled_for else "-"
            )
            click.echo(
                f"{b.number}  {b.status:<9} {when:<16}  {b.phone}  {b.service:<10} "
                f"{b.reason:<10} {rt.regions.name(b.village_code)} {b.hamlet or ''}"
            )


@bookings_cli.command("schedule")
@click.argument("number")
@click.option("--at", "when", required=True, help="Date and time (WITA), 'YYYY-MM-DD HH:MM'.")
@click.option("--team", help="Who goes.")
@actor_option
def bookings_schedule(number: str, when: str, team: str | None, actor: str) -> None:
    """Schedule a home visit: the resident gets the date by SMS and a reminder the day before."""
    ensure_schema()
    local = parse_local_datetime(when, example="2026-12-03 10:00")
    if local < dt.datetime.now(LOCAL_TZ):
        raise click.BadParameter(f"{when} is in the past", param_hint="--at")
    rt = runtime()
    try:
        with rt.db.begin() as session:
            staff_actions.schedule_booking(session, rt.resident_sms, actor, number, local, team)
    except ActionError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"booking {number} scheduled for {when}; the resident is told by SMS")
    rt.dispatch(inline=True)


@bookings_cli.command("done")
@click.argument("number")
@actor_option
def bookings_done(number: str, actor: str) -> None:
    """Mark a home visit done."""
    _close_booking(number, "done", actor)


@bookings_cli.command("cancel")
@click.argument("number")
@actor_option
def bookings_cancel(number: str, actor: str) -> None:
    """Cancel a home visit."""
    _close_booking(number, "cancelled", actor)


def _close_booking(number: str, status: str, actor: str) -> None:
    ensure_schema()
    rt = runtime()
    try:
        with rt.db.begin() as session:
            staff_actions.close_booking(session, rt.resident_sms, actor, number, status)
    except ActionError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"booking {number} {status}; the resident is told by SMS")
    rt.dispatch(inline=True)
