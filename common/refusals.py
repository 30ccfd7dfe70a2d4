"""A refusal a person reads: an English sentence template, which is also its message key, and the
values that fill it in. ``str()`` is the English sentence (the operator's CLI and the logs show
it); the staff console looks the template up in the reader's catalog and fills in the values
formatted for the reader's language (gateway/console/formatting.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any


class Refusal(ValueError):
    """``Refusal("birth year {year} is not between 1900 and {this_year}", year=85, …)``."""

    def __init__(self, key: str, **params: Any) -> None:
        self.key = key
        self.params = params
        super().__init__(key.format(**{k: plain(v) for k, v in params.items()}) if params else key)


class Word(str):
    """A value that is itself a word of the vocabulary (a status: "scheduled"), translated
    when the console shows it."""


def plain(value: Any) -> Any:
    """A value as the English sentence shows it: 2026-11-01, 09:00."""
    if isinstance(value, dt.time):
        return f"{value:%H:%M}"
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return value
