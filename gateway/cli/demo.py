"""``flask --app gateway demo``: synthetic data to try the product with — residents, requests
in every status, a booking, visits and one console account per role. Never for production: it
refuses anything but the embedded default (SQLite, no REDIS_URL) unless told ``--force`` (a
training server), because its console log-ins have passwords printed in this file."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from common.local_time import local_today
from gateway.cli.common import DEMO_PHONES, actor_option, ensure_schema, new_user
from gateway.runtime import runtime
from gateway.staff_actions import audit
from storage import numbers, queries
from storage.models import DocumentRequest, Region, User
from storage.regions import import_regions

DEMO_BODY = "1000"  # demo request numbers are 1000xxx + check digit: easy to spot and to type
DEMO_PASSWORDS = {
    "admin": "admin-demo-123",
    "staff": "staff-demo-123",
    "officer": "officer-demo-123",
}


@click.command("demo")
@click.option(
    "--force",
    is_flag=True,
    help="Load it outside the embedded default too (a training server; never production).",
)
@actor_option
@with_appcontext  # plain click commands get no app context from app.cli (e.g. the test runner)
def demo(force: bool, actor: str) -> None:
    """Load synthetic demo data: residents, requests in every status, a booking, visits, and
    console log-ins with known passwords. Only on the embedded default (SQLite, no REDIS_URL)
    unless --force.

    Safe to run again: nothing is duplicated."""
    rt = runtime()
    dialect = rt.db.engine.dialect.name
    if not force and (dialect != "sqlite" or rt.config["REDIS_URL"]):
        where = f"{dialect}{' with Redis' if rt.config['REDIS_URL'] else ''}"
        raise click.ClickException(
            f"demo data is for the embedded default (SQLite, no REDIS_URL), not this {where} "
            "database: it adds log-ins with known passwords. Add --force for a training server."
        )
    if force:
        click.echo("warning: loading demo data with log-ins whose passwords are public", err=True)
    ensure_schema()
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
                status_reason="photo" if status == "rejected" else None,  # "perlu dilengkapi"
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
    with rt.db.begin() as session:
        audit(
            session,
            actor,
            "demo.load",
            "database",
            None,
            after={"users": [u for u, _, _ in demo_users], "forced": force},
        )
    other = numbers.with_check_digit(DEMO_BODY + "006")
    click.echo("Demo data loaded. Staff console log-ins (user / password):")
    for username, role, password in demo_users:
        click.echo(f"  {username:<10} {password:<16} {role}")
    click.echo("Residents to dial as:")
    click.echo(f"  {granny}  Tembok, Indonesian: two requests on file, a visit in 5 days")
    click.echo(f"  {english}  Kayuputih, English: three requests, an open home-visit booking")
    click.echo(f"  {DEMO_PHONES['newcomer']}  a first-time caller")
    click.echo(f"Another phone's request: {other} (applicant born 1961)")


def _demo_users(village_code: str) -> list[tuple[str, str, str]]:
    """One account per role, with known passwords: demo data only, never production."""
    roles = {
        "admin": ("admin", None),
        "staff": ("staff", None),
        "officer": ("village_officer", village_code),
    }
    with runtime().db.begin() as session:
        for username, (role, village) in roles.items():
            if session.scalar(select(User.id).where(User.username == username)) is None:
                session.add(new_user(username, DEMO_PASSWORDS[username], role, village))
    return [(u, r, DEMO_PASSWORDS[u]) for u, (r, _) in roles.items()]
