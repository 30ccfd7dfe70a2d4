"""Quiet hours (docs/product.md, "SMS"): 21:00-07:00 WITA nothing non-urgent is sent; it waits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from common.local_time import LOCAL_TZ


def quiet_until(now: dt.datetime, window: Sequence[str]) -> dt.datetime | None:
    """If ``now`` falls in the quiet window ["21:00", "07:00"] (local time), when it ends
    (in UTC); else None. An empty window means no quiet hours."""
    if not window:
        return None
    start, end = (dt.time.fromisoformat(t) for t in window)
    local = now.astimezone(LOCAL_TZ)
    today_end = dt.datetime.combine(local.date(), end, LOCAL_TZ)
    t = local.timetz().replace(tzinfo=None)
    if start <= end:  # e.g. 13:00-15:00, within one day
        quiet = start <= t < end
        ends = today_end
    else:  # across midnight, e.g. 21:00-07:00
        quiet = t >= start or t < end
        ends = today_end if t < end else today_end + dt.timedelta(days=1)
    return ends.astimezone(dt.UTC) if quiet else None
