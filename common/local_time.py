"""Local time: stored in UTC, shown and scheduled in WITA (Asia/Makassar, UTC+8), the time
residents and staff of Buleleng read."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Makassar")


def local_today() -> dt.date:
    return dt.datetime.now(LOCAL_TZ).date()


def as_utc(moment: dt.datetime) -> dt.datetime:
    """A stored moment, aware: SQLite gives back the UTC it was given, naive."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def local_date(moment: dt.datetime) -> dt.date:
    """The local day of a stored moment."""
    return as_utc(moment).astimezone(LOCAL_TZ).date()
