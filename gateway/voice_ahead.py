"""Rendering ahead what a call will say about a village's next visit (issue 13): when a visit
is added, published, moved or cancelled, the next-visit screen of its village — date, time,
place, what to bring — is synthesized in every language in the background, so the first
caller after a broadcast does not wait for it. Only where voice is set up (VOICE_NUMBER)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from common.local_time import local_today
from common.office import Office
from flows.engine import Engine
from flows.voice import speak
from storage import hop
from storage.db import Database
from storage.regions import RegionDirectory

log = logging.getLogger(__name__)


class _OneVillage:
    """The services the next-visit journey asks for, answered for one village."""

    def __init__(self, code: str, name: str, visit: Any, office: Office) -> None:
        self.code, self.name, self.visit, self._office = code, name, visit, office

    def office(self) -> Office:  # the forms deadline on the screen (issue 11)
        return self._office

    def remembered_village(self) -> str:
        return self.code

    def village_name(self, _code: str) -> str:
        return self.name

    def next_visit(self, _code: str) -> Any:
        return self.visit


def next_visit_sentences(
    engine: Engine,
    db: Database,
    regions: RegionDirectory,
    villages: Iterable[str],
    office: Office,
) -> set[tuple[str, str]]:
    """Every (language, sentence) of the next-visit screen of each village, as of today."""
    found: set[tuple[str, str]] = set()
    for code in villages:
        if code not in regions.by_code:
            continue
        services = _OneVillage(
            code, regions.name(code), hop.next_visit(db, code, local_today()), office
        )
        for language in engine.catalogs:
            turn = engine.begin_journey(services, language, "next_visit")  # type: ignore[arg-type]
            found.update((language, s) for s in speak(engine, turn).sentences)
    return found
