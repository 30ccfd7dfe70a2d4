"""The registry office as residents are told of it: where it is, when it is open, its telephone,
where the priority counter is, when staff call back, and what to bring to collect a document.

All of it is configuration (common/settings.py, config.example.toml): the office changes its
hours or its counter without a release. A text residents read may be one string for every
language, or a table by language code (``{ id = "...", en = "..." }``); a language the table
lacks reads the default language's (Indonesian), then any.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_LANGUAGE = "id"


def localized(value: Any, language: str) -> str:
    """``value`` (a string, or a table by language code) in ``language``."""
    if isinstance(value, Mapping):
        for code in (language, DEFAULT_LANGUAGE):
            if value.get(code):
                return str(value[code])
        return str(next(iter(value.values()), ""))
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Office:
    """The office's details, from the settings (``Office.from_settings``)."""

    name: str = ""
    address: str = ""
    phone: str = ""
    hours: Any = ""  # str, or {language: str}
    priority_counter: Any = ""
    callback_promise: Any = ""
    # what to bring to collect a document: {doc_type: str or {language: str}}
    pickup_bring: Mapping[str, Any] = field(default_factory=dict)
    forms_days_before: int = 2  # Si Melik: forms to the village office this many days before

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Office:
        return cls(
            name=str(settings.get("OFFICE_NAME", "")),
            address=str(settings.get("OFFICE_ADDRESS", "")),
            phone=str(settings.get("OFFICE_PHONE", "")),
            hours=settings.get("OFFICE_HOURS", ""),
            priority_counter=settings.get("PRIORITY_COUNTER", ""),
            callback_promise=settings.get("CALLBACK_PROMISE", ""),
            pickup_bring=dict(settings.get("PICKUP_BRING", {})),
            forms_days_before=int(settings.get("VISIT_FORMS_DAYS_BEFORE", 2)),
        )

    def text(self, what: str, language: str) -> str:
        """``hours``, ``priority_counter`` or ``callback_promise`` in ``language``."""
        return localized(getattr(self, what), language)

    def bring(self, doc_type: str, language: str) -> str:
        """What to bring to collect a document of this type ("" if the settings say nothing)."""
        return localized(self.pickup_bring.get(doc_type, ""), language)

    def forms_deadline(self, visit_day: dt.date) -> dt.date:
        """The last day forms and documents reach the village office before a visit."""
        return visit_day - dt.timedelta(days=max(0, self.forms_days_before))
