"""``flask --app gateway outbox``: every SMS the product owes, what became of it, and a way to
send the failed ones again."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from gateway.cli.common import actor_option, ensure_schema
from gateway.runtime import runtime
from gateway.staff_actions import audit
from storage import outbox
from storage.models import OutboxMessage, utcnow

outbox_cli = AppGroup("outbox", help="Every SMS the product owes, and its fate.")


@outbox_cli.command("list")
@click.option(
    "--status", type=click.Choice(("queued", "sending", "sent", "delivered", "failed", "cancelled"))
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
def outbox_list(status: str | None, limit: int) -> None:
    """Messages, newest first, with their status and the provider's reason."""
    ensure_schema()
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
@actor_option
def outbox_retry(ids: tuple[int, ...], all_failed: bool, actor: str) -> None:
    """Send failed messages again (by id, or all with --failed)."""
    ensure_schema()
    if bool(ids) == all_failed:
        raise click.UsageError("give message ids or --failed")
    rt = runtime()
    with rt.db.begin() as session:
        n = outbox.retry_failed(session, None if all_failed else list(ids), utcnow())
        audit(  # as the console's retry does
            session,
            actor,
            "outbox.retry",
            "outbox",
            "all-failed" if all_failed else ",".join(map(str, ids))[:40],
            after={"requeued": n},
        )
    click.echo(f"{n} message(s) queued again")
    rt.dispatch(inline=True)


@outbox_cli.command("sweep")
@actor_option
def outbox_sweep(actor: str) -> None:
    """Enqueue what is due now, and drop delivery reports no message claimed in time (the
    workers do this every SWEEP_INTERVAL_SECONDS)."""
    ensure_schema()
    rt = runtime()
    report = rt.worker.sweeper.run()
    with rt.db.begin() as session:
        audit(session, actor, "outbox.sweep", "outbox", None, after=vars(report))
    click.echo(
        f"{report.taken_back} taken back from dead workers, {report.enqueued} enqueued "
        f"in {report.jobs} job(s), {report.reports_dropped} unmatched delivery report(s) dropped"
    )
