"""Residents: the phones the product has served, with their language, village and opt-out."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from storage import statements
from storage.models import Resident, utcnow

_BY_PHONE = Resident.phone == bindparam("phone")


class Profile(NamedTuple):
    """What a hop remembers of its caller."""

    language: str
    village_code: str | None


RESIDENT_PROFILE = select(Resident.language, Resident.village_code).where(_BY_PHONE)


def get_resident(session: Session, phone: str) -> Resident | None:
    """The resident, to change it (RESIDENT_PROFILE's look-up, the whole row)."""
    return session.scalar(select(Resident).where(_BY_PHONE), {"phone": phone})


def update_resident(
    connection: Session | Connection,
    phone: str,
    *,
    village_code: str | None = None,
    language: str | None = None,
) -> None:
    """Create the resident if new; change only the fields given. One statement."""
    connection.execute(
        statements.UPSERT_RESIDENT,
        {"phone": phone, "village_code": village_code, "language": language, "now": utcnow()},
    )


def upsert_resident(
    session: Session, phone: str, *, village_code: str | None = None, language: str | None = None
) -> Resident:
    """``update_resident`` in an ORM session: the resident as stored now."""
    session.flush()  # what the session holds reaches the database before the statement
    update_resident(session, phone, village_code=village_code, language=language)
    return session.scalars(
        select(Resident).where(_BY_PHONE).execution_options(populate_existing=True),
        {"phone": phone},
    ).one()
