"""The operator CLI: ``flask --app gateway COMMAND``. Every command has --help, is scriptable
(no prompts unless asked), and fails with one clear line on bad input."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import inspect, select

from common.local_time import local_today
from gateway import staff_actions
from gateway.phones import to_e164
from gateway.runtime import runtime
from storage import migrate, numbers, queries
from storage.models import DocumentRequest, Region
from storage.regions import Place, import_regions
from storage.vocab import DOC_TYPES, REQUEST_STATUSES


def init_app(app: Flask) -> None:
    from gateway import cli_messaging

    for group in (
        db_cli,
        regions_cli,
        requests_cli,
        visits_cli,
        sessions_cli,
        users_cli,
        *cli_messaging.GROUPS,
    ):
        app.cli.add_command(group)
    app.cli.add_command(demo)
    app.cli.add_command(dial)


# --- shared parsing ----------------------------------------------------------------------------


def _phone(raw: str, hint: str = "--phone") -> str:
    phone = to_e164(raw)
    if phone is None:
        raise click.BadParameter(f"'{raw}' is not a valid phone number", param_hint=hint)
    return phone


def _village(code_or_name: str) -> Place:
    rt = runtime()
    rt.reload_regions()
    if not rt.regions.villages:
        raise click.ClickException(
            "the region list is empty: run 'flask --app gateway regions import' first"
        )
    try:
        return rt.regions.find_village(code_or_name)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--village") from error


def _date(raw: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise click.BadParameter(
            f"'{raw}' is not a date like 2026-12-03", param_hint="--date"
        ) from None


def _time(raw: str, hint: str) -> dt.time:
    try:
        return dt.datetime.strptime(raw, "%H:%M").time()
    except ValueError:
        raise click.BadParameter(f"'{raw}' is not a time like 09:00", param_hint=hint) from None


def _ensure_schema() -> None:
    rt = runtime()
    if not inspect(rt.db.engine).has_table("regions"):
        raise click.ClickException(
            "the database has no tables yet: run 'flask --app gateway db upgrade' first"
        )


# --- db ---------------------------------------------------------------------------------------

db_cli = AppGroup("db", help="Create or migrate the database schema.")


@db_cli.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Create the schema, or migrate it to the latest revision. Safe to run again."""
    migrate.upgrade(runtime().db.engine, revision)
    click.echo(
        f"database at {runtime().db.engine.url.render_as_string(hide_password=True)} "
        f"is at revision {revision}"
    )


@db_cli.command("revision")
@click.option("-m", "--message", required=True, help="What the migration does.")
def db_revision(message: str) -> None:
    """(Developers) autogenerate a migration from the models; read and correct it after."""
    migrate.revision(runtime().db.engine, message)


# --- regions ----------------------------------------------------------------------------------

regions_cli = AppGroup("regions", help="The official region list (districts and villages).")


@regions_cli.command("import")
@click.argument(
    "csv_path", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def regions_import(csv_path: Path | None) -> None:
    """Load the region list from CSV_PATH (default: the bundled Kemendagri 2025 list).

    Idempotent: existing regions are updated, none are duplicated. Restart the web processes
    afterwards so they read the new list."""
    _ensure_schema()
    rt = runtime()
    try:
        with rt.db.begin() as session:
            added, updated = import_regions(session, csv_path)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    rt.reload_regions()
    regions = rt.regions
    click.echo(
        f"regions: {added} added, {updated} updated; "
        f"{len(regions.districts)} districts, {len(regions.villages)} villages"
    )


# --- requests ---------------------------------------------------------------------------------

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
def requests_add(
    doc_type: str,
    phone: str,
    birth_year: int,
    village: str,
    status: str,
    number: str | None,
    pickup: str | None,
) -> None:
    """Register a document request; prints its request number."""
    _ensure_schema()
    place = _village(village)
    try:
        with runtime().db.begin() as session:
            request = staff_actions.add_request(
                session,
                "cli",
                doc_type=doc_type,
                phone=_phone(phone),
                birth_year=birth_year,
                village_code=place.code,
                status=status,
                number=number,
                pickup_place=pickup,
            )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    click.echo(request.number)


@requests_cli.command("set-status")
@click.argument("number")
@click.argument("status", type=click.Choice(REQUEST_STATUSES))
@click.option("--pickup", help="Where to collect it (e.g. 'Kantor Desa Tembok').")
def requests_set_status(number: str, status: str, pickup: str | None) -> None:
    """Change the status of request NUMBER."""
    _ensure_schema()
    if not numbers.is_well_formed(number):
        raise click.BadParameter(f"'{number}' is not a valid request number", param_hint="NUMBER")
    rt = runtime()
    try:
        with rt.db.begin() as session:
            request = staff_actions.set_request_status(
                session, rt.resident_sms, "cli", number, status, pickup
            )
            click.echo(
                f"{request.number}: {request.status}"
                + (f" (collect at {request.pickup_place})" if request.pickup_place else "")
                + "; the resident is notified by SMS"
            )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    rt.dispatch()


# --- visits -----------------------------------------------------------------------------------

visits_cli = AppGroup("visits", help="Si Melik village visits by the registry team.")


@visits_cli.command("add")
@click.option("--village", required=True, help="Village code (51.08.09.2010) or name (Tembok).")
@click.option("--date", "day", required=True, help="Day of the visit, YYYY-MM-DD.")
@click.option("--start", required=True, help="Start time, HH:MM (WITA).")
@click.option("--end", required=True, help="End time, HH:MM (WITA).")
@click.option("--place", required=True, help="Where, e.g. 'Balai Desa'.")
@click.option("--bring", help="What residents should bring.")
@click.option("--draft", is_flag=True, help="Save without publishing.")
def visits_add(
    village: str, day: str, start: str, end: str, place: str, bring: str | None, draft: bool
) -> None:
    """Schedule a village visit (published immediately unless --draft); prints its id."""
    _ensure_schema()
    where = _village(village)
    visit_date = _date(day)
    if visit_date < local_today():
        raise click.BadParameter(f"{visit_date} is in the past", param_hint="--date")
    rt = runtime()
    try:
        with rt.db.begin() as session:
            visit, told = staff_actions.add_visit(
                session,
                rt.resident_sms,
                "cli",
                village_code=where.code,
                visit_date=visit_date,
                start=_time(start, "--start"),
                end=_time(end, "--end"),
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


# --- USSD session log -------------------------------------------------------------------------

sessions_cli = AppGroup("sessions", help="The USSD session log.")


@sessions_cli.command("flush")
def sessions_flush() -> None:
    """Write all queued session records to the database now (web processes write batches
    every few seconds)."""
    _ensure_schema()
    click.echo(f"{runtime().session_log.flush(force=True)} session record(s) written")


# --- users ------------------------------------------------------------------------------------

users_cli = AppGroup("users", help="Staff console accounts.")


@users_cli.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(("admin", "staff", "village_officer")))
@click.option("--village", help="The officer's village (code or name); village officers only.")
@click.option(
    "--password",
    envvar="GATEWAY_NEW_PASSWORD",
    help="At least 10 characters. Default: asked for (or GATEWAY_NEW_PASSWORD).",
)
def users_create(username: str, role: str, village: str | None, password: str | None) -> None:
    """Create a console account (the first admin, for instance)."""
    _ensure_schema()
    from gateway.console.auth import hash_password
    from gateway.staff_actions import audit
    from storage.models import User

    if role == "village_officer" and not village:
        raise click.BadParameter("a village officer needs --village", param_hint="--village")
    code = _village(village).code if role == "village_officer" and village else None
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        raise click.BadParameter("at least 10 characters", param_hint="--password")
    with runtime().db.begin() as session:
        if session.scalar(select(User.id).where(User.username == username)):
            raise click.ClickException(f"user '{username}' already exists")
        session.add(
            User(
                username=username,
                password_hash=hash_password(password),
                role=role,
                village_code=code,
                language="id",
                active=True,
            )
        )
        audit(
            session,
            "cli",
            "user.create",
            "user",
            username,
            after={"role": role, "village_code": code},
        )
    click.echo(f"user {username} ({role}) created")


# --- demo -------------------------------------------------------------------------------------

DEMO_PHONES = {
    "grandmother": "+6281200000001",  # Tembok, Indonesian, requests on file
    "english": "+6281200000002",  # Kayuputih (Sukasada), English
    "newcomer": "+6281200000003",  # never called before
}
DEMO_BODY = "1000"  # demo request numbers are 1000xxx + check digit: easy to spot and to type


@click.command("demo")
@with_appcontext  # plain click commands get no app context from app.cli (e.g. the test runner)
def demo() -> None:
    """Load synthetic demo data: residents, requests in every status, a booking, visits.

    Safe to run again: nothing is duplicated."""
    _ensure_schema()
    rt = runtime()
    with rt.db.begin() as session:
        if session.scalar(select(Region.code).limit(1)) is None:
            import_regions(session)
    rt.reload_regions()
    tembok = rt.regions.find_village("51.08.09.2010")
    kayuputih = rt.regions.find_village("51.08.05.2015")
    granny, english, _ = DEMO_PHONES.values()
    demo_requests = [
        ("001", "ktp", granny, 1956, tembok, "ready", "Kantor Desa Tembok"),
        ("002", "kk", granny, 1956, tembok, "processing", None),
        ("003", "birth_cert", english, 1990, kayuputih, "submitted", None),
        ("004", "death_cert", english, 1990, kayuputih, "collected", "Kantor Camat Sukasada"),
        ("005", "kia", english, 1990, kayuputih, "rejected", None),
        ("006", "move", "+6281200000009", 1961, tembok, "ready", "Balai Desa Tembok"),
    ]
    today = local_today()
    with rt.db.begin() as session:
        queries.upsert_resident(session, granny, village_code=tembok.code, language="id")
        queries.upsert_resident(session, english, village_code=kayuputih.code, language="en")
        for suffix, doc, phone, year, village, status, pickup in demo_requests:
            number = numbers.with_check_digit(DEMO_BODY + suffix)
            if session.scalar(select(DocumentRequest.id).where(DocumentRequest.number == number)):
                continue
            queries.add_request(
                session,
                doc_type=doc,
                phone=phone,
                birth_year=year,
                village_code=village.code,
                status=status,
                number=number,
                pickup_place=pickup,
            )
        queries.create_booking(
            session,
            phone=english,
            for_whom="family",
            reason="elderly",
            service="ktp",
            village_code=kayuputih.code,
            hamlet="Banjar Kaja",
        )
        if queries.next_visit(session, tembok.code, today) is None:
            queries.add_visit(
                session,
                village_code=tembok.code,
                visit_date=today + dt.timedelta(days=5),
                start_time=dt.time(9),
                end_time=dt.time(14),
                place="Balai Desa",
                bring="KK asli dan KTP lama",
            )
            for code, days in (("51.08.08.2007", 9), ("51.08.02.1015", 12)):
                queries.add_visit(
                    session,
                    village_code=code,
                    visit_date=today + dt.timedelta(days=days),
                    start_time=dt.time(8, 30),
                    end_time=dt.time(13),
                    place="Kantor Desa",
                    bring="KK asli",
                )
    demo_users = _demo_users(tembok.code)
    other = numbers.with_check_digit(DEMO_BODY + "006")
    click.echo("Demo data loaded. Staff console log-ins (user / password):")
    for username, role, password in demo_users:
        click.echo(f"  {username:<10} {password:<16} {role}")
    click.echo("Residents to dial as:")
    click.echo(f"  {granny}  Tembok, Indonesian: two requests on file, a visit in 5 days")
    click.echo(f"  {english}  Kayuputih, English: three requests, an open home-visit booking")
    click.echo(f"  {DEMO_PHONES['newcomer']}  a first-time caller")
    click.echo(f"Another phone's request: {other} (applicant born 1961)")


DEMO_PASSWORDS = {
    "admin": "admin-demo-123",
    "staff": "staff-demo-123",
    "officer": "officer-demo-123",
}


def _demo_users(village_code: str) -> list[tuple[str, str, str]]:
    """One account per role, with known passwords: demo data only, never production."""
    from gateway.console.auth import hash_password
    from storage.models import User

    roles = {
        "admin": ("admin", None),
        "staff": ("staff", None),
        "officer": ("village_officer", village_code),
    }
    with runtime().db.begin() as session:
        for username, (role, village) in roles.items():
            if session.scalar(select(User.id).where(User.username == username)) is None:
                session.add(
                    User(
                        username=username,
                        password_hash=hash_password(DEMO_PASSWORDS[username]),
                        role=role,
                        village_code=village,
                        language="id",
                        active=True,
                    )
                )
    return [(u, r, DEMO_PASSWORDS[u]) for u, (r, _) in roles.items()]


# --- dial -------------------------------------------------------------------------------------


@click.command("dial")
@with_appcontext
@click.argument("phone", default=DEMO_PHONES["grandmother"])
@click.option(
    "--session",
    "session_id",
    help="Session id (default: a new one). Reuse one to "
    "replay; dial again within 10 minutes with a new one to see the resume offer.",
)
@click.option(
    "-k",
    "--keys",
    multiple=True,
    help="Inputs to send without prompting, in order (e.g. -k 1 -k 9).",
)
@click.option(
    "--url",
    help="Dial a running gateway instead (e.g. http://127.0.0.1:5000/ussd); "
    "default: this app's endpoint code, in this process.",
)
def dial(phone: str, session_id: str | None, keys: tuple[str, ...], url: str | None) -> None:
    """Run a USSD session in the terminal, through the real /ussd endpoint code.

    Type the number of your choice and Enter; 0 back, 00 main menu, 98 next page.
    Ctrl-D or Ctrl-C hangs up."""
    e164 = _phone(phone, "PHONE")
    session_id = session_id or f"dial-{secrets.token_hex(6)}"
    token = current_app.config["WEBHOOK_TOKEN"]
    code = current_app.config["USSD_SERVICE_CODE"]
    post = _remote_poster(url) if url else _local_poster(token)
    inputs: list[str] = []
    pending = list(keys)
    click.echo(f"Dialling {code} from {e164} (session {session_id})")
    while True:
        status, body = post(
            {
                "sessionId": session_id,
                "serviceCode": code,
                "phoneNumber": e164,
                "networkCode": "51010",
                "text": "*".join(inputs),
            }
        )
        click.echo("┌" + "─" * 30)
        for line in body.split("\n"):
            click.echo("│ " + line)
        click.echo(f"└ {len(body)} chars, HTTP {status}")
        if status != 200 or not body.startswith("CON "):
            return
        if pending:
            answer = pending.pop(0)
            click.echo(f"> {answer}")
        elif keys:
            return  # scripted run: stop when the script ends
        else:
            try:
                answer = click.prompt(">", default="", show_default=False, prompt_suffix=" ")
            except (click.Abort, EOFError):
                click.echo("\n(hung up)")
                return
        inputs.append(answer)


Poster = Callable[[dict[str, str]], tuple[int, str]]


def _local_poster(token: str) -> Poster:
    # In-process, the "webhooks are open" warning is about nobody: keep the terminal clean.
    logging.getLogger("gateway.webhooks.auth").setLevel(logging.ERROR)
    client = current_app.test_client()
    path = "/ussd" + (f"?token={token}" if token else "")

    def post(form: dict[str, str]) -> tuple[int, str]:
        reply = client.post(path, data=form)
        return reply.status_code, reply.get_data(as_text=True)

    return post


def _remote_poster(url: str) -> Poster:
    def post(form: dict[str, str]) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode()
        try:
            with urllib.request.urlopen(url, data=data, timeout=10) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError as error:
            raise click.ClickException(f"cannot reach {url}: {error}") from error

    return post
