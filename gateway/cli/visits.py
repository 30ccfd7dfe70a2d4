"""``flask --app gateway visits``: Si Melik village visits. A published visit is announced by
SMS to its village's residents; an edit or a cancellation corrects what is queued and tells
whoever was already told. Those messages leave before the command returns."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from common.local_time import local_today
from gateway import staff_actions
from gateway.cli.common import (
    actor_option,
    ensure_schema,
    find_village,
    parse_date,
    parse_time,
)
from gateway.runtime import runtime
from gateway.staff_actions import ActionError
from storage.models import VillageVisit

visits_cli = AppGroup("visits", help="Si Melik village visits by the registry team.")


@visits_cli.command("add")
@click.option("--village", required=True, help="Village code (51.08.09.2010) or name (Tembok).")
@click.option("--date", "day", required=True, help="Day of the visit, YYYY-MM-DD.")
@click.option("--start", required=True, help="Start time, HH:MM (WITA).")
@click.option("--end", required=True, help="End time, HH:MM (WITA).")
@click.option("--place", required=True, help="Where, e.g. 'Balai Desa'.")
@click.option("--bring", help="What residents should bring.")
@click.option("--draft", is_flag=True, help="Save without publishing.")
@actor_option
def visits_add(
    village: str,
    day: str,
    start: str,
    end: str,
    place: str,
    bring: str | None,
    draft: bool,
    actor: str,
) -> None:
    """Schedule a village visit (published immediately unless --draft); prints its id."""
    ensure_schema()
    where = find_village(village)
    visit_date = parse_date(day)
    if visit_date < local_today():
        raise click.BadParameter(f"{visit_date} is in the past", param_hint="--date")
    rt = runtime()
    try:
        with rt.db.begin() as session:
            visit, told = staff_actions.add_visit(
                session,
                rt.resident_sms,
                actor,
                village_code=where.code,
                visit_date=visit_date,
                start=parse_time(start, "--start"),
                end=parse_time(end, "--end"),
                place=place,
                bring=bring,
                publish=not draft,
            )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    click.echo(
        f"visit {visit.id}: {where.name} {visit_date} {start}-{end} "
        + ("draft" if draft else f"published; {told} resident(s) will be told by SMS")
    )
    if told:
        rt.dispatch(inline=True)


@visits_cli.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include past and cancelled visits.")
def visits_list(show_all: bool) -> None:
    """Upcoming visits: id, day, time, village, place, state."""
    ensure_schema()
    rt = runtime()
    with rt.db.begin() as session:
        query = select(VillageVisit).order_by(VillageVisit.visit_date, VillageVisit.start_time)
        if not show_all:
            query = query.where(
                VillageVisit.visit_date >= local_today(), VillageVisit.cancelled.is_(False)
            )
        for v in session.scalars(query):
            state = "cancelled" if v.cancelled else "published" if v.published else "draft"
            click.echo(
                f"{v.id:>5}  {v.visit_date}  {v.start_time:%H:%M}-{v.end_time:%H:%M}  "
                f"{rt.regions.name(v.village_code):<16} {v.place}  [{state}]"
            )


@visits_cli.command("publish")
@click.argument("visit_id", type=int)
@actor_option
def visits_publish(visit_id: int, actor: str) -> None:
    """Publish a draft visit: its village's residents are told by SMS."""
    ensure_schema()
    rt = runtime()
    try:
        with rt.db.begin() as session:
            told = staff_actions.publish_visit(session, rt.resident_sms, actor, visit_id)
    except ActionError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"visit {visit_id} published; {told} resident(s) will be told by SMS")
    rt.dispatch(inline=True)


@visits_cli.command("edit")
@click.argument("visit_id", type=int)
@click.option("--date", "day", help="New day, YYYY-MM-DD.")
@click.option("--start", help="New start time, HH:MM.")
@click.option("--end", help="New end time, HH:MM.")
@click.option("--place", help="New place.")
@click.option("--bring", help="New list of what to bring.")
@actor_option
def visits_edit(
    visit_id: int,
    day: str | None,
    start: str | None,
    end: str | None,
    place: str | None,
    bring: str | None,
    actor: str,
) -> None:
    """Change a visit. Queued messages about it are corrected; residents already told get
    the change by SMS."""
    ensure_schema()
    rt = runtime()
    if place is not None and not place.strip():
        raise click.BadParameter("the place cannot be empty", param_hint="--place")
    visit_date = parse_date(day) if day else None
    if visit_date is not None and visit_date < local_today():
        raise click.BadParameter(f"{visit_date} is in the past", param_hint="--date")
    try:
        with rt.db.begin() as session:
            told = staff_actions.edit_visit(
                session,
                rt.resident_sms,
                actor,
                visit_id,
                visit_date=visit_date,
                start=parse_time(start, "--start") if start else None,
                end=parse_time(end, "--end") if end else None,
                place=place,
                bring=bring,
            )
    except ActionError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"visit {visit_id} changed; {told} resident(s) already told get the change")
    rt.dispatch(inline=True)


@visits_cli.command("cancel")
@click.argument("visit_id", type=int)
@actor_option
def visits_cancel(visit_id: int, actor: str) -> None:
    """Cancel a visit: queued messages about it are cancelled; residents already told are
    told it is off."""
    ensure_schema()
    rt = runtime()
    try:
        with rt.db.begin() as session:
            told = staff_actions.cancel_visit(session, rt.resident_sms, actor, visit_id)
    except ActionError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"visit {visit_id} cancelled; {told} resident(s) are told")
    rt.dispatch(inline=True)
