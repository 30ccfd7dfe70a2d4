"""What the CLI tests of the messages residents get share: the residents of the visit and
broadcast tests, and a visit to Tembok added (and so published) the way an operator does."""

from __future__ import annotations

import datetime as dt
from typing import Any

from common.local_time import local_today
from tests.helpers import en_date, id_date, ok, run, short_en, short_id

LES = "51.08.09.2007"  # Les, next to Tembok in Tejakula

# Residents of the visit, broadcast and outbox tests
ANA = "+6281200000001"  # Tembok, Indonesian
BEN = "+6281200000002"  # Tembok, English
CICI = "+6281200000003"  # Tembok, opted out
DEWA = "+6281200000004"  # Les
EVA = "+6281200000005"  # lives in Les, asked by USSD (in English) to hear about Tembok
FAJAR = "+6281200000006"  # Tembok, and asked to hear about Tembok too
GEDE = "+6281200000007"  # Tembok, asked to hear about Les only

# The day of the visit ``visit_add`` adds
VISIT_DAY = local_today() + dt.timedelta(days=6)


def visit_add(runner: Any, *extra: str) -> str:
    """``visits add`` for Tembok on ``VISIT_DAY``, 09:00-14:00 at the Balai Desa; its output."""
    return ok(
        run(
            runner,
            "visits",
            "add",
            "--village",
            "Tembok",
            "--date",
            VISIT_DAY.isoformat(),
            "--start",
            "09:00",
            "--end",
            "14:00",
            "--place",
            "Balai Desa",
            "--bring",
            "KK asli",
            *extra,
        )
    )


# Forms and documents to the village office by two days before (VISIT_FORMS_DAYS_BEFORE)
FORMS_ID = f" Formulir ke kantor desa s.d. {short_id(VISIT_DAY - dt.timedelta(days=2))}."
FORMS_EN = f" Forms to the village office by {short_en(VISIT_DAY - dt.timedelta(days=2))}."


def announced(start: str = "09:00") -> dict[str, str]:
    """The announcement of that visit, by language."""
    return {
        "id": f"Adminduk: petugas ke Desa Tembok {id_date(VISIT_DAY)} {start}-14:00 di Balai "
        f"Desa. Bawa KK asli.{FORMS_ID} Balas STOP u/ berhenti.",
        "en": f"Adminduk: staff visit Tembok {en_date(VISIT_DAY)} {start}-14:00 at Balai Desa. "
        f"Bring KK asli.{FORMS_EN} Reply STOP to stop.",
    }
