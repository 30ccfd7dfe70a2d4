"""``flask --app gateway broadcast``: one text to the residents of a village, a district or the
whole regency. A dry run by default (recipients, segments, cost); with --yes the messages leave
before the command returns."""

from __future__ import annotations

import datetime as dt
import math

import click
from flask.cli import with_appcontext

from common.segments import count_segments, non_gsm_characters
from gateway import staff_actions
from gateway.cli.common import actor_option, ensure_schema, parse_local_datetime
from gateway.runtime import runtime
from workers.routing import messages_per_second


@click.command("broadcast")
@click.option("--village", help="Residents of this village (code or name).")
@click.option("--district", help="Residents of this district (code or name).")
@click.option("--all", "everyone", is_flag=True, help="Every resident.")
@click.option("--text", required=True, help="The message, as residents will read it.")
@click.option("--text-en", help="An English version for residents who chose English.")
@click.option("--at", "when", help="Send at 'YYYY-MM-DD HH:MM' (WITA); default now.")
@click.option("--yes", is_flag=True, help="Send; without it, only show what would happen.")
@actor_option
@with_appcontext
def broadcast(
    village: str | None,
    district: str | None,
    everyone: bool,
    text: str,
    text_en: str | None,
    when: str | None,
    yes: bool,
    actor: str,
) -> None:
    """Send a text to many residents. Prints recipients, segments and the cost estimate;
    nothing is sent without --yes. Opted-out residents are skipped (checked again at send
    time); outside 07:00-21:00 WITA messages wait for the morning."""
    ensure_schema()
    if sum(bool(x) for x in (village, district, everyone)) != 1:
        raise click.UsageError("choose exactly one of --village, --district, --all")
    text = text.strip()
    if not text:
        raise click.BadParameter("the text is empty", param_hint="--text")
    send_at = None
    if when:
        send_at = parse_local_datetime(when, example="2026-12-03 07:00").astimezone(dt.UTC)
    rt = runtime()
    try:
        audience = rt.resident_sms.audience(village=village, district=district, everyone=everyone)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
    count = count_segments(text)
    with rt.db.begin() as session:
        recipients = len(rt.resident_sms.recipients(session, audience))
    price = float(rt.config["SMS_PRICE_PER_SEGMENT"])
    click.echo(f"audience: {audience.label}, {recipients} recipient(s)")
    click.echo(f"text: {len(text)} characters, {count.encoding}, {count.segments} segment(s)")
    odd = non_gsm_characters(text)
    if odd:
        click.echo(f"  note: {' '.join(repr(c) for c in odd)} make(s) it UCS-2 (70 per segment)")
    click.echo(
        f"cost estimate: {recipients * count.segments * price:,.0f} {rt.config['SMS_CURRENCY']}"
    )
    via, rate = messages_per_second(rt.sms_provider, rt.config, count.segments)
    if rate > 0 and recipients:
        click.echo(f"sending takes about {math.ceil(recipients / rate / 60)} minute(s) via {via}")
    if not yes:
        click.echo("nothing sent: add --yes to send")
        return
    with rt.db.begin() as session:
        planned = staff_actions.plan_broadcast(
            session,
            rt.resident_sms,
            actor,
            audience,
            text,
            send_at,
            translations={"en": text_en or ""},
        )
    click.echo(f"broadcast {planned.id}: {planned.recipients} message(s) queued")
    rt.dispatch(inline=True)
