"""The plain data that crosses the parts: storage builds it (from an ORM object or a row), the
flows show it, the SMS texts are written from it. One shape per thing, whatever the database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RequestView:
    """A document request, as its applicant is told about it."""

    number: str
    doc_type: str
    status: str
    updated: dt.date  # the local day of its last change
    pickup_place: str | None
    owned_by_caller: bool  # asked from the phone now asking (else its birth year is asked first)
    reason: str | None = None  # why "perlu dilengkapi" or why it went back (a code or words)


@dataclass(frozen=True)
class VisitView:
    """A village visit (Si Melik), as residents hear of it."""

    id: int
    village_code: str
    day: dt.date
    start: str  # "09:00"
    end: str
    place: str
    bring: str | None
    stamp: dt.datetime | None  # when it was last written (UTC): its messages' keys carry it

    def as_dict(self) -> dict[str, Any]:
        """For a JSON cache; ``from_dict`` reads it back."""
        return {
            "id": self.id,
            "village_code": self.village_code,
            "day": self.day.isoformat(),
            "start": self.start,
            "end": self.end,
            "place": self.place,
            "bring": self.bring,
            "stamp": None if self.stamp is None else self.stamp.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VisitView:
        stamp = data.get("stamp")  # (absent from entries cached before it was kept)
        return cls(
            id=int(data["id"]),
            village_code=str(data["village_code"]),
            day=dt.date.fromisoformat(data["day"]),
            start=str(data["start"]),
            end=str(data["end"]),
            place=str(data["place"]),
            bring=data.get("bring"),
            stamp=None if stamp is None else dt.datetime.fromisoformat(stamp),
        )


@dataclass(frozen=True)
class BookingResult:
    """What asking for a home visit (Sidakep) came to."""

    number: str
    created: bool  # False: an open booking for this phone and service already existed
    status: str
    scheduled_for: dt.date | None  # the local day, once staff scheduled it


@dataclass(frozen=True)
class BookingView:
    """A home-visit booking (Sidakep), as its resident is told about it."""

    number: str
    service: str
    status: str  # requested | scheduled (the open ones are listed)
    scheduled_for: dt.datetime | None  # local (WITA), once staff scheduled it
    team: str | None


@dataclass(frozen=True)
class CallbackResult:
    """What asking to be called back came to."""

    created: bool  # False: this phone's open request was already waiting
    asked: dt.date  # the local day it was asked
