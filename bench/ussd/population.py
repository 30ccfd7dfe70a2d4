"""The USSD benchmarks' database: prepared the way an operator does it, then filled with
returning callers (a village, a language, document requests on file) and village visits."""

from __future__ import annotations

import datetime as dt
import random
import subprocess
from dataclasses import dataclass

from bench.shared.basics import BIN, ROOT


@dataclass
class Caller:
    phone: str
    own_requests: int  # document requests on file for this phone


@dataclass
class Population:
    callers: list[Caller]
    targets: list[tuple[str, int, str]]  # (request number, applicant birth year, owner phone)
    villages_per_district: list[int]  # in the order the district menu shows them


def flask_cli(env: dict[str, str], *args: str) -> None:
    """Prepare data the way an operator does: the CLI, not private shortcuts."""
    cmd = [str(BIN / "flask"), "--app", "gateway", *args]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:])} failed:\n{done.stdout}{done.stderr}")


def prepare_database(env: dict[str, str]) -> None:
    """The tables, the official regions and the demo data, in the database of ``env``."""
    # (--force: a benchmark database is a throwaway, and usually PostgreSQL with Redis)
    for command in (("db", "upgrade"), ("regions", "import"), ("demo", "--force")):
        flask_cli(env, *command)


def seed_population(url: str, n_callers: int, rng: random.Random) -> Population:
    """Returning callers: residents with a village and a language, most with requests on file;
    published visits for most villages. Written with ``storage.queries``, as the CLI does."""
    from common.local_time import local_today
    from storage import queries
    from storage.db import Database
    from storage.regions import RegionDirectory
    from storage.vocab import DOC_TYPES, REQUEST_STATUSES

    db = Database(url)
    try:
        with db.begin() as session:
            regions = RegionDirectory.load(session)
        villages = [v.code for v in regions.villages]
        callers: list[Caller] = []
        targets: list[tuple[str, int, str]] = []
        with db.begin() as session:
            for i in range(n_callers):
                phone = f"+6281370{i:06d}"
                queries.upsert_resident(
                    session,
                    phone,
                    village_code=rng.choice(villages),
                    language="en" if rng.random() < 0.15 else "id",
                )
                n_requests = rng.choices((0, 1, 2, 3), weights=(30, 40, 20, 10))[0]
                for _ in range(n_requests):
                    status = rng.choice(REQUEST_STATUSES)
                    year = rng.randint(1940, 2006)
                    request = queries.add_request(
                        session,
                        doc_type=rng.choice(DOC_TYPES),
                        phone=phone,
                        birth_year=year,
                        village_code=rng.choice(villages),
                        status=status,
                        pickup_place="Kantor Desa" if status in ("ready", "collected") else None,
                    )
                    targets.append((request.number, year, phone))
                callers.append(Caller(phone=phone, own_requests=n_requests))
        today = local_today()
        with db.begin() as session:
            for code in villages:
                if rng.random() < 0.8:  # the others answer "no visit yet" (notify me)
                    queries.add_visit(
                        session,
                        village_code=code,
                        visit_date=today + dt.timedelta(days=rng.randint(1, 25)),
                        start_time=dt.time(9),
                        end_time=dt.time(13),
                        place="Balai Desa",
                        bring="KK asli dan KTP lama",
                    )
        per_district = [len(regions.villages_of(d.code)) for d in regions.districts]
        return Population(callers=callers, targets=targets, villages_per_district=per_district)
    finally:
        db.dispose()
