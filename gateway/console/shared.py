"""What every area of the console uses: who is acting, the village officer's fence around
their village, the page size, the answer after a change, and the form base and fields for
what staff type (dates and times in WITA, ticked check boxes)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Response, flash, redirect, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import Field
from wtforms.validators import ValidationError

from common.local_time import LOCAL_TZ
from gateway.console import translate
from gateway.console.formatting import say
from gateway.staff_actions import ActionError

PAGE = 100  # rows a list shows; the newest first


def actor() -> str:
    """The name the audit log and the outbox record for what this request changes."""
    return str(current_user.username)


def village_scope() -> str | None:
    """The one village a village officer may see; None for staff and admins (everything)."""
    return current_user.village_code if current_user.is_officer else None


def scoped(query: Any, column: Any) -> Any:
    """The query limited to a village officer's village (``column`` holds a village code)."""
    scope = village_scope()
    return query.where(column == scope) if scope else query


# Where a link or a log-in may send a browser back to: the pages people use, on this site.
LOCAL_PAGES = ("/staff", "/simulator")
# Characters no page address of ours contains, and that browsers drop, read as a slash, or
# treat as the end of the address: controls (tab and new line among them), spaces, backslash.
_NOT_IN_A_PATH = re.compile(r"[\x00-\x20\x7f-\x9f\\\u2028\u2029\ufeff]")


def local_target(target: str | None) -> str | None:
    """``target`` if it is a page of this console or the simulator, given as a path on this site
    (``/staff/requests?q=1``); otherwise None. A browser would read ``//evil.example``,
    ``/\\evil.example``, ``/\t/evil.example`` or ``https://evil.example`` as another site."""
    if not target or len(target) > 2000 or _NOT_IN_A_PATH.search(target):
        return None
    parts = urlsplit(target)
    path = unquote(parts.path)  # what a browser or a proxy may decode on the way
    if parts.scheme or parts.netloc or _NOT_IN_A_PATH.search(path):
        return None
    return target if target.startswith(LOCAL_PAGES) and path.startswith(LOCAL_PAGES) else None


def done(message: str, endpoint: str, **values: Any) -> Response:
    flash(message, "ok")
    return redirect(url_for(endpoint, **values))  # type: ignore[return-value]


def failed(error: BaseException, endpoint: str, **values: Any) -> Response:
    flash(say(error), "error")
    return redirect(url_for(endpoint, **values))  # type: ignore[return-value]


# --- forms ----------------------------------------------------------------------------------------


class ConsoleForm(FlaskForm):
    """A form of the console. Its CSRF token is checked before every request of the console
    (``page_request``), so a refused token stays a 400 rather than becoming a form error."""

    class Meta:
        csrf = False

    def first_error(self) -> str:
        """The first error in the order of the fields: staff fix one thing at a time."""
        for errors in self.errors.values():
            return str(errors[0])
        return ""

    def check(self) -> None:
        """Validate; the first error is raised as an ActionError, so a view shows what staff
        typed wrong and what the action refused in the same way."""
        if not self.validate():
            raise ActionError(self.first_error())


def strip(value: str | None) -> str:
    return (value or "").strip()


def typed(field: Field) -> str:
    """What was typed into the field, even when it could not be read."""
    return str(field.raw_data[0]) if field.raw_data else ""


class DayField(Field):
    """A date as <input type=date> sends it (2026-12-03)."""

    data: Any  # a dt.date, or None when what was typed is not a date (as any WTForms field)

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            self.data = dt.date.fromisoformat(valuelist[0] if valuelist else "")
        except ValueError:
            self.data = None

    def pre_validate(self, form: Any) -> None:
        if self.data is None:
            raise ValidationError(translate("Not a date: {value}", value=typed(self)))

    def _value(self) -> str:
        return typed(self) or (self.data.isoformat() if self.data else "")


class ClockField(Field):
    """A time of day as <input type=time> sends it (09:30)."""

    data: Any  # a dt.time, or None

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            self.data = dt.datetime.strptime(valuelist[0] if valuelist else "", "%H:%M").time()
        except ValueError:
            self.data = None

    def pre_validate(self, form: Any) -> None:
        if self.data is None:
            raise ValidationError(translate("Not a time: {value}", value=typed(self)))

    def _value(self) -> str:
        return typed(self) or (f"{self.data:%H:%M}" if self.data else "")


def local_moment(date: str, time: str) -> dt.datetime:
    """A date and time typed in the console (WITA), or a message staff can act on — never
    Python's "time data ... does not match format"."""
    if not date.strip() and not time.strip():
        raise ValidationError(translate("Choose a date and time."))
    try:
        return dt.datetime.strptime(f"{date} {time}", "%Y-%m-%d %H:%M").replace(tzinfo=LOCAL_TZ)
    except ValueError:
        raise ValidationError(
            translate("Not a date and time: {value}", value=f"{date} {time}".strip())
        ) from None


class CheckedValues(Field):
    """The values of the ticked check boxes that share this field's name (empty ones dropped)."""

    def process_data(self, value: Any) -> None:
        self.data = list(value or [])

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = [value for value in valuelist if value]


class CheckedIds(CheckedValues):
    """Ticked row ids; anything that is not a number is ignored."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = [int(value) for value in valuelist if value.isdigit()]
