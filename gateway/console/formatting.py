"""How the console writes times, numbers, money, places and languages for its reader: every
moment in WITA (Asia/Makassar) and labelled so, dates and numbers in the reader's language
(Babel's CLDR data: ``Kamis, 3 Des 2026 10.30 WITA`` / ``Thu 3 Dec 2026 10:30 WITA``,
``Rp 1.400``), villages by name with their district, audiences and languages by name.

The templates use these as filters (``{{ m.created_at|when }}``); ``init_app`` registers them.
``say`` puts a refusal (common/refusals.py) into the reader's language."""

from __future__ import annotations

import datetime as dt
from typing import Any

from babel.dates import format_date, format_skeleton
from babel.numbers import format_decimal, get_currency_symbol
from flask import Flask

from common.local_time import LOCAL_TZ, as_utc
from common.refusals import Refusal, Word
from gateway.console import LANGUAGES, translate, ui_language

ZONE = "WITA"
# The reader's date: the weekday, the day, the month short, the year. CLDR's own pattern for
# Indonesian ("Kam, 3 Des 2026") shortens the weekday that office staff read in full.
DATE_PATTERNS = {"id": "EEEE, d MMM y", "en": "EEE d MMM y"}
SHORT_DATE_PATTERNS = {"id": "d MMM y", "en": "d MMM y"}


def _locale() -> str:
    return ui_language()


def _moment(value: dt.datetime) -> dt.datetime:
    return as_utc(value).astimezone(LOCAL_TZ)


def clock(value: dt.time | dt.datetime | None) -> str:
    """A time of day as the reader writes it: 10.30 (Indonesian), 10:30 (English)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = _moment(value).time()
    moment = dt.datetime.combine(dt.date(2000, 1, 1), value)
    return str(format_skeleton("Hm", moment, locale=_locale()))


def day(value: dt.date | dt.datetime | None, short: bool = False) -> str:
    """A date (a stored moment: its day in WITA): ``Kamis, 3 Des 2026``."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = _moment(value).date()
    patterns = SHORT_DATE_PATTERNS if short else DATE_PATTERNS
    locale = _locale()
    return str(format_date(value, patterns.get(locale, "medium"), locale=locale))


def when(value: dt.datetime | None, short: bool = False) -> str:
    """A stored moment (UTC) in WITA, labelled: ``Kamis, 3 Des 2026 10.30 WITA``."""
    if value is None:
        return ""
    return f"{day(value, short)} {clock(value)} {ZONE}"


def hours(start: dt.time, end: dt.time) -> str:
    """A span of the day: ``09.00-14.00 WITA`` (an en dash)."""
    return f"{clock(start)}\u2013{clock(end)} {ZONE}"


def number(value: int | float | None) -> str:
    """``2.340`` (Indonesian), ``2,340`` (English)."""
    if value is None:
        return ""
    return str(format_decimal(value, locale=_locale()))


def money(value: int | float, currency: str = "IDR") -> str:
    """``Rp 1.400``: rupiah have no cents worth showing; the symbol as Indonesians write it."""
    symbol = get_currency_symbol(currency, locale="id")
    return f"{symbol} {format_decimal(round(value), format='#,##0', locale=_locale())}"


def language_name(code: str | None) -> str:
    """``Bahasa Indonesia``, ``English``: the name a language calls itself."""
    return LANGUAGES.get(code or "", code or "")


def say(error: BaseException) -> str:
    """A refusal in the reader's language, its values formatted for them; any other error as
    it says itself."""
    if not isinstance(error, Refusal):
        return str(error)
    if not error.params:
        return translate(error.key)
    return translate(error.key, **{k: _value(v) for k, v in error.params.items()})


def _value(value: Any) -> Any:
    if isinstance(value, Word):
        return translate(str(value))
    if isinstance(value, dt.datetime):
        return when(value)
    if isinstance(value, dt.date):
        return day(value)
    if isinstance(value, dt.time):
        return clock(value)
    return value  # numbers too: they are ids, years and limits, not amounts


def village(code: str | None) -> str:
    """``Tembok (Tejakula)``: a village's name and its district, since names repeat."""
    from gateway.runtime import runtime

    regions = runtime().regions
    place = regions.by_code.get(code or "")
    if place is None:
        return code or ""
    district = regions.name(place.parent_code)
    return f"{place.name} ({district})" if district else place.name


def audience(label: str | None, recipients: int | None = None) -> str:
    """A broadcast's stored audience (``village:51.08.09.2010``) by name:
    ``Desa Tembok (Tejakula)``, ``Kecamatan Tejakula``, ``Everyone``, ``Residents whose request
    is ready``; with ``— 2.340 residents`` when the count is given."""
    from gateway.runtime import runtime

    regions = runtime().regions
    parts = (label or "").split(":")
    named = label or ""
    if parts[0] == "village" and len(parts) == 2:
        named = translate("Village {name}", name=village(parts[1]))
    elif parts[0] == "district" and len(parts) == 2:
        named = translate("District {name}", name=regions.name(parts[1]) or parts[1])
    elif parts[0] == "all":
        named = translate("Everyone")
    elif parts[0] == "status" and len(parts) == 2:
        named = translate("Residents whose request is {status}", status=translate(parts[1]))
    elif parts[0] == "status" and len(parts) == 4:
        named = translate(
            "Residents of {village} whose request is {status}",
            village=village(parts[3]),
            status=translate(parts[1]),
        )
    if recipients is None:
        return named
    return f"{named} — {translate('{n} resident(s)', n=number(recipients))}"


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        when=when,
        day=day,
        clock=clock,
        hours=hours,
        number=number,
        money=money,
        language_name=language_name,
        village=village,
        audience=audience,
    )
