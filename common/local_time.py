"""Local time: stored in UTC, shown and scheduled in WITA (Asia/Makassar, UTC+8), the time
residents and staff of Buleleng read."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Makassar")


def local_today() -> dt.date:
    return dt.datetime.now(LOCAL_TZ).date()
