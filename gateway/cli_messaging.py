"""Operator commands for what the product sends: visits, home-visit bookings, residents,
broadcasts, the outbox, and the worker. Every change that concerns a resident writes its SMS to
the outbox in the same transaction; ``rt.dispatch()`` then gets it moving."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import click
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from common.local_time import LOCAL_TZ, local_today
from common.segments import count_segments, non_gsm_characters
from gateway import staff_actions
from gateway.cli import _date, _ensure_schema, _time, visits_cli
from gateway.phones import to_e164
from gateway.runtime import runtime
from gateway.staff_actions import ActionError
from storage import outbox, queries
from storage.models import HomeVisitBooking, OutboxMessage, VillageVisit, utcnow

# --- visits: publish, edit, cancel, list --------------------------------------------------------


@visits_cli.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include past and cancelled visits.")
def visits_list(show_all: bool) -> None:
    """Upcoming visits: id, day, time, village, place, state."""
    _ensure_schema()
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
def visits_publish(visit_id: int) -> None:
    """Publish a draft visit: its village's residents are told by SMS."""
    _ensure_schema()
    rt = runtime()
    try:
        with rt.db.begin() as session:
            told = staff_actions.publish_visit(session, rt.resident_sms, "cli", visit_id)
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
def visits_edit(
    visit_id: int,
    day: str | None,
    start: str | None,
    end: str | None,
    place: str | None,
    bring: str | None,
) -> None:
    """Change a visit. Queued messages about it are corrected; residents already told get
    the change by SMS."""
    _ensure_schema()
    rt = runtime()
    if place is not None and not place.strip():
        raise click.BadParameter("the place cannot be empty", param_hint="--place")
    visit_date = _date(day) if day else None
    if visit_date is not None and visit_date < local_today():
        raise click.BadParameter(f"{visit_date} is in the past", param_hint="--date")
    try:
        with rt.db.begin() as session:
            told = staff_actions.edit_visit(
                session,
                rt.resident_sms,
                "cli",
                visit_id,
                visit_date=visit_date,
                start=_time(start, "--start") if start else None,
                end=_time(end, "--end") if end else None,
                place=place,
                bring=bring,
            )
    except ActionError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"visit {visit_id} changed; {told} resident(s) already told get the change")
    rt.dispatch(inline=True)


@visits_cli.command("cancel")
@click.argument("visit_id", type=int)
def visits_cancel(visit_id: int) -> None:
    """Cancel a visit: queued messages about it are cancelled; residents already told are
    told it is off."""
    _ensure_schema()
    rt = runtime()
    try:
        with rt.db.begin() as session:
            told = staff_actions.cancel_visit(session, rt.resident_sms, "cli", visit_id)
    except ActionError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"visit {visit_id} cancelled; {told} resident(s) are told")
    rt.dispatch(inline=True)


# --- home-visit bookings --------------------------------------------------------------------

bookings_cli = AppGroup("bookings", help="Sidakep home-visit bookings.")


@bookings_cli.command("list")
@click.option("--status", type=click.Choice(("requested", "scheduled", "done", "cancelled")))
def bookings_list(status: str | None) -> None:
    """Bookings, newest first."""
    _ensure_schema()
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
def bookings_schedule(number: str, when: str, team: str | None) -> None:
    """Schedule a home visit: the resident gets the date by SMS and a reminder the day before."""
    _ensure_schema()
    try:
        local = dt.datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=LOCAL_TZ)
    except ValueError:
        raise click.BadParameter(
            f"'{when}' is not like 2026-12-03 10:00", param_hint="--at"
        ) from None
    if local < dt.datetime.now(LOCAL_TZ):
        raise click.BadParameter(f"{when} is in the past", param_hint="--at")
    rt = runtime()
    try:
        with rt.db.begin() as session:
            staff_actions.schedule_booking(session, rt.resident_sms, "cli", number, local, team)
    except ActionError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"booking {number} scheduled for {when}; the resident is told by SMS")
    rt.dispatch()


def _close_booking(number: str, status: str) -> None:
    _ensure_schema()
    rt = runtime()
    try:
        with rt.db.begin() as session:
            staff_actions.close_booking(session, rt.resident_sms, "cli", number, status)
    except ActionError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"booking {number} {status}; the resident is told by SMS")
    rt.dispatch()


@bookings_cli.command("done")
@click.argument("number")
def bookings_done(number: str) -> None:
    """Mark a home visit done."""
    _close_booking(number, "done")


@bookings_cli.command("cancel")
@click.argument("number")
def bookings_cancel(number: str) -> None:
    """Cancel a home visit."""
    _close_booking(number, "cancelled")


# --- residents ------------------------------------------------------------------------------

residents_cli = AppGroup("residents", help="Residents: phone, village, language, opt-out.")


@residents_cli.command("import")
@click.argument("csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def residents_import(csv_path: Path) -> None:
    """Add or update residents from a CSV with columns phone, village (code or name) and
    language (id, en; optional). Bad rows are reported with their reasons and skipped; the
    rest of the file is imported."""
    _ensure_schema()
    rt = runtime()
    languages = set(rt.catalogs)
    added = updated = 0
    rejected: list[str] = []
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = {c.strip().lower() for c in reader.fieldnames or []}
            if not {"phone", "village"} <= columns:
                raise click.ClickException(
                    f"{csv_path}: needs columns phone and village "
                    f"(found: {', '.join(sorted(columns)) or 'none'})"
                )
            rows = [
                {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
                for row in reader
            ]
    except UnicodeDecodeError as error:
        raise click.ClickException(f"{csv_path}: not UTF-8 text ({error.reason})") from error
    seen: set[str] = set()
    with rt.db.begin() as session:
        for line, row in enumerate(rows, start=2):
            phone = to_e164(row.get("phone", ""))
            if phone is None:
                rejected.append(f"line {line}: '{row.get('phone', '')}' is not a phone number")
                continue
            if phone in seen:
                rejected.append(f"line {line}: {phone} appears twice in the file")
                continue
            try:
                village = rt.regions.find_village(row.get("village", ""))
            except ValueError as error:
                rejected.append(f"line {line}: {error}")
                continue
            language = row.get("language") or "id"
            if language not in languages:
                rejected.append(
                    f"line {line}: unknown language '{language}' "
                    f"(one of {', '.join(sorted(languages))})"
                )
                continue
            seen.add(phone)
            existed = queries.get_resident(session, phone) is not None
            queries.upsert_resident(session, phone, village_code=village.code, language=language)
            updated += existed
            added += not existed
    for phone in seen:
        rt.store.forget_profile(phone)  # cached language/village may have changed
    click.echo(f"residents: {added} added, {updated} updated, {len(rejected)} rejected")
    for reason in rejected:
        click.echo(f"  rejected {reason}")


# --- broadcasts -----------------------------------------------------------------------------


@click.command("broadcast")
@click.option("--village", help="Residents of this village (code or name).")
@click.option("--district", help="Residents of this district (code or name).")
@click.option("--all", "everyone", is_flag=True, help="Every resident.")
@click.option("--text", required=True, help="The message, as residents will read it.")
@click.option("--text-en", help="An English version for residents who chose English.")
@click.option("--at", "when", help="Send at 'YYYY-MM-DD HH:MM' (WITA); default now.")
@click.option("--yes", is_flag=True, help="Send; without it, only show what would happen.")
@with_appcontext
def broadcast(
    village: str | None,
    district: str | None,
    everyone: bool,
    text: str,
    text_en: str | None,
    when: str | None,
    yes: bool,
) -> None:
    """Send a text to many residents. Prints recipients, segments and the cost estimate;
    nothing is sent without --yes. Opted-out residents are skipped (checked again at send
    time); outside 07:00-21:00 WITA messages wait for the morning."""
    _ensure_schema()
    if sum(bool(x) for x in (village, district, everyone)) != 1:
        raise click.UsageError("choose exactly one of --village, --district, --all")
    text = text.strip()
    if not text:
        raise click.BadParameter("the text is empty", param_hint="--text")
    send_at = None
    if when:
        try:
            send_at = (
                dt.datetime.strptime(when, "%Y-%m-%d %H:%M")
                .replace(tzinfo=LOCAL_TZ)
                .astimezone(dt.UTC)
            )
        except ValueError:
            raise click.BadParameter(
                f"'{when}' is not like 2026-12-03 07:00", param_hint="--at"
            ) from None
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
    if not yes:
        click.echo("nothing sent: add --yes to send")
        return
    with rt.db.begin() as session:
        planned = staff_actions.plan_broadcast(
            session,
            rt.resident_sms,
            "cli",
            audience,
            text,
            send_at,
            translations={"en": text_en or ""},
        )
    click.echo(f"broadcast {planned.id}: {planned.recipients} message(s) queued")
    rt.dispatch(inline=True)


# --- outbox ----------------------------------------------------------------------------------

outbox_cli = AppGroup("outbox", help="Every SMS the product owes, and its fate.")


@outbox_cli.command("list")
@click.option(
    "--status", type=click.Choice(("queued", "sending", "sent", "delivered", "failed", "cancelled"))
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
def outbox_list(status: str | None, limit: int) -> None:
    """Messages, newest first, with their status and the provider's reason."""
    _ensure_schema()
    rt = runtime()
    with rt.db.begin() as session:
        counts = outbox.counts_by_status(session)
        click.echo("  ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "outbox empty")
        query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
        if status:
            query = query.where(OutboxMessage.status == status)
        for m in session.scalars(query):
            reason = f"  ({m.last_error})" if m.last_error else ""
            click.echo(
                f"{m.id:>7} {m.status:<9} {m.kind:<12} {m.recipient:<15} "
                f"{m.attempts}x  {m.body[:50]!r}{reason}"
            )


@outbox_cli.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--failed", "all_failed", is_flag=True, help="Every failed message.")
def outbox_retry(ids: tuple[int, ...], all_failed: bool) -> None:
    """Send failed messages again (by id, or all with --failed)."""
    _ensure_schema()
    if bool(ids) == all_failed:
        raise click.UsageError("give message ids or --failed")
    rt = runtime()
    with rt.db.begin() as session:
        n = outbox.retry_failed(session, None if all_failed else list(ids), utcnow())
    click.echo(f"{n} message(s) queued again")
    rt.dispatch(inline=True)


@outbox_cli.command("sweep")
def outbox_sweep() -> None:
    """Enqueue what is due now (the workers do this every SWEEP_INTERVAL_SECONDS)."""
    _ensure_schema()
    report = runtime().worker.sweeper.run()
    click.echo(
        f"{report.taken_back} taken back from dead workers, {report.enqueued} enqueued "
        f"in {report.jobs} job(s)"
    )


# --- worker ----------------------------------------------------------------------------------


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@with_appcontext
def worker(burst: bool) -> None:
    """Run a send worker in the foreground (RQ, with its scheduler and the outbox sweep).

    In production run as many as you like, on any machines, as the Procfile does:

        rq worker --with-scheduler --worker-class workers.worker.OutboxWorker -u $REDIS_URL outbox

    with DATABASE_URL, REDIS_URL and the provider settings (GATEWAY_CONFIG, AT_USERNAME,
    AT_API_KEY) in the environment. On the embedded default (no REDIS_URL) no worker is
    needed: the web process sends in a thread of its own."""
    rt = runtime()
    if rt.redis is None:
        raise click.ClickException(
            "no REDIS_URL: on the embedded default the web process "
            "sends by itself; no worker is needed"
        )
    from rq import Queue

    from workers.worker import OutboxWorker

    queue = Queue(rt.config["RQ_QUEUE"], connection=rt.redis)
    OutboxWorker([queue], connection=rt.redis).work(burst=burst, with_scheduler=True)


GROUPS = (bookings_cli, residents_cli, outbox_cli, broadcast, worker)
