"""Running totals kept in the database (table ``counters``): shared by every process that adds
to them and every process that reports them (/metrics), and kept across restarts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import statements
from storage.models import Counter

DELIVERY_REPORTS_DROPPED = "delivery_reports_dropped"


def add(session: Session, name: str, amount: int) -> None:
    """Grow the total ``name`` by ``amount``, in the caller's transaction."""
    if amount:
        session.execute(statements.ADD_TO_COUNTER, {"name": name, "amount": amount})


def value(session: Session, name: str) -> int:
    return int(session.scalar(select(Counter.value).where(Counter.name == name)) or 0)
