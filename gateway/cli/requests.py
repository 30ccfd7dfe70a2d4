"""``flask --app gateway requests``: document requests, which residents check by USSD."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from gateway import staff_actions
from gateway.cli.common import actor_option, ensure_schema, find_village, parse_phone
from gateway.runtime import runtime
from storage import numbers
from storage.vocab import DOC_TYPES, INCOMPLETE_REASONS, REQUEST_STATUSES

REASON_HELP = (
    "Why: for 'rejected' what is missing, one of "
    + ", ".join(INCOMPLETE_REASONS)
    + " or your own words; for going back, why (at most 60 characters; the resident is told)."
)

requests_cli = AppGroup("requests", help="Document requests (residents check them by USSD).")


@requests_cli.command("add")
@click.option(
    "--type", "doc_type", required=True, type=click.Choice(DOC_TYPES), help="Document type."
)
@click.option("--phone", required=True, help="Applicant's phone, e.g. 0812-3456-7890.")
@click.option(
    "--birth-year",
    required=True,
    type=int,
    help="Applicant's birth year (asked when someone checks the status from another phone).",
)
@click.option("--village", required=True, help="Village code (51.08.09.2010) or name (Tembok).")
@click.option(
    "--status", default="submitted", show_default=True, type=click.Choice(REQUEST_STATUSES)
)
@click.option(
    "--number",
    help="Use this request number (digits with a valid check digit) instead of a new random one.",
)
@click.option("--pickup", help="Where to collect the document.")
@click.option("--reason", help=REASON_HELP)
@actor_option
def requests_add(
    doc_type: str,
    phone: str,
    birth_year: int,
    village: str,
    status: str,
    number: str | None,
    pickup: str | None,
    reason: str | None,
    actor: str,
) -> None:
    """Register a document request; prints its request number. The applicant is told it by
    SMS, with where to check it."""
    ensure_schema()
    place = find_village(village)
    rt = runtime()
    try:
        with rt.db.begin() as session:
            request = staff_actions.add_request(
                session,
                rt.resident_sms,
                actor,
                doc_type=doc_type,
                phone=parse_phone(phone),
                birth_year=birth_year,
                village_code=place.code,
                status=status,
                number=number,
                pickup_place=pickup,
                status_reason=reason,
            )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    click.echo(request.number)
    rt.dispatch(inline=True)


@requests_cli.command("set-status")
@click.argument("number")
@click.argument("status", type=click.Choice(REQUEST_STATUSES))
@click.option("--pickup", help="Where to collect it (e.g. 'Kantor Desa Tembok').")
@click.option("--reason", help=REASON_HELP)
@actor_option
def requests_set_status(
    number: str, status: str, pickup: str | None, reason: str | None, actor: str
) -> None:
    """Change the status of request NUMBER along its lifecycle: the same status again sends
    nothing; going back (collected -> submitted) needs --reason, as does 'rejected' (shown to
    residents as "perlu dilengkapi")."""
    ensure_schema()
    if not numbers.is_well_formed(number):
        raise click.BadParameter(f"'{number}' is not a valid request number", param_hint="NUMBER")
    rt = runtime()
    try:
        with rt.db.begin() as session:
            move = staff_actions.request_move(session, number, status, pickup, reason)
            request = staff_actions.set_request_status(
                session, rt.resident_sms, actor, number, status, pickup, reason
            )
            click.echo(
                f"{request.number}: {request.status}"
                + (f" (collect at {request.pickup_place})" if request.pickup_place else "")
                + (f" (reason: {request.status_reason})" if request.status_reason else "")
                + (
                    "; unchanged, nothing sent"
                    if move.sms is None
                    else "; the resident is notified by SMS"
                )
            )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    rt.dispatch(inline=True)
