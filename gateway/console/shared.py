"""What every area of the console uses: who is acting, the village fence on queries, the page
size, the answer after a change, and dates and times as staff type them (WITA)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, flash, redirect, url_for
from flask_login import current_user

from common.local_time import LOCAL_TZ
from gateway.console import translate
from gateway.console.auth import village_scope
from gateway.staff_actions import ActionError

PAGE = 100  # rows a list shows; the newest first


def actor() -> str:
    """The name the audit log and the outbox record for what this request changes."""
    return str(current_user.username)


def scoped(query: Any, column: Any) -> Any:
    """The query limited to a village officer's village (``column`` holds a village code)."""
    scope = village_scope()
    return query.where(column == scope) if scope else query


def done(message: str, endpoint: str, **values: Any) -> Response:
    flash(message, "ok")
    return redirect(url_for(endpoint, **values))  # type: ignore[return-value]


def failed(error: Exception, endpoint: str, **values: Any) -> Response:
    flash(str(error), "error")
    return redirect(url_for(endpoint, **values))  # type: ignore[return-value]


def parse_date(raw: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ActionError(translate("Not a date: {value}", value=raw)) from None


def parse_time(raw: str) -> dt.time:
    try:
        return dt.datetime.strptime(raw, "%H:%M").time()
    except ValueError:
        raise ActionError(translate("Not a time: {value}", value=raw)) from None


def parse_local_moment(date: str, time: str) -> dt.datetime:
    """A date and time typed in the console (WITA), or a message staff can act on — never
    Python's "time data ... does not match format"."""
    if not date.strip() and not time.strip():
        raise ActionError(translate("Choose a date and time."))
    try:
        return dt.datetime.strptime(f"{date} {time}", "%Y-%m-%d %H:%M").replace(tzinfo=LOCAL_TZ)
    except ValueError:
        raise ActionError(
            translate("Not a date and time: {value}", value=f"{date} {time}".strip())
        ) from None
