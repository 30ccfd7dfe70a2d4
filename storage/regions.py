"""The official region list: import it, and look villages up by code or name."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.refusals import Refusal
from storage.models import Region

LEVELS = {"kabupaten", "kecamatan", "desa", "kelurahan"}
VILLAGE_LEVELS = ("desa", "kelurahan")
CODE_LENGTH, NAME_LENGTH = 13, 80  # the columns of models.Region: longer fails on PostgreSQL


def bundled_csv() -> Path:
    return Path(str(resources.files("storage") / "data" / "buleleng_regions.csv"))


def read_regions_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a region list, checked; raises ValueError naming the first bad row."""
    with path.open(newline="", encoding="utf-8") as f:
        try:
            reader = csv.DictReader(f)
            missing = {"code", "name", "level", "parent_code"} - set(reader.fieldnames or [])
            if missing:
                raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            rows = []
            seen: set[str] = set()
            for line, row in enumerate(reader, start=2):
                if (
                    row["level"] not in LEVELS
                    or not row["code"]
                    or not row["name"]
                    or len(row["code"]) > CODE_LENGTH
                    or len(row["name"]) > NAME_LENGTH
                    or len(row["parent_code"] or "") > CODE_LENGTH
                ):
                    raise ValueError(f"{path}:{line}: bad row {row!r}")
                if row["code"] in seen:
                    raise ValueError(f"{path}:{line}: code {row['code']} appears twice")
                seen.add(row["code"])
                rows.append(row)
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not a UTF-8 text file") from None
    return rows


def import_regions(session: Session, path: Path | None = None) -> tuple[int, int]:
    """Insert or update every region from the CSV; returns (added, updated). Idempotent."""
    rows = read_regions_csv(path or bundled_csv())
    existing = {r.code: r for r in session.scalars(select(Region))}
    added = updated = 0
    for row in rows:
        parent = row["parent_code"] or None
        region = existing.get(row["code"])
        if region is None:
            session.add(
                Region(code=row["code"], name=row["name"], level=row["level"], parent_code=parent)
            )
            added += 1
        elif (region.name, region.level, region.parent_code) != (row["name"], row["level"], parent):
            region.name, region.level, region.parent_code = row["name"], row["level"], parent
            updated += 1
    return added, updated


@dataclass(frozen=True)
class Place:
    code: str
    name: str
    parent_code: str | None


class RegionDirectory:
    """An in-memory copy of the region list (157 rows): regions change once a year, so each
    process reads them once instead of on every USSD hop."""

    def __init__(self, regions: list[Region]) -> None:
        self.districts = sorted(
            (Place(r.code, r.name, r.parent_code) for r in regions if r.level == "kecamatan"),
            key=lambda p: p.code,
        )
        self.villages = sorted(
            (Place(r.code, r.name, r.parent_code) for r in regions if r.level in VILLAGE_LEVELS),
            key=lambda p: p.name,
        )
        self.by_code = {p.code: p for p in [*self.districts, *self.villages]}

    @classmethod
    def load(cls, session: Session) -> RegionDirectory:
        return cls(list(session.scalars(select(Region))))

    def villages_of(self, district_code: str) -> list[Place]:
        return [v for v in self.villages if v.parent_code == district_code]

    def name(self, code: str | None) -> str:
        place = self.by_code.get(code or "")
        return place.name if place else ""

    def find_village(self, code_or_name: str) -> Place:
        """The village with this official code or unambiguous name; ValueError otherwise."""
        wanted = code_or_name.strip()
        place = self.by_code.get(wanted)
        if place and place.parent_code and place in self.villages:
            return place
        matches = [v for v in self.villages if v.name.casefold() == wanted.casefold()]
        if len(matches) == 1:
            return matches[0]
        if matches:
            options = ", ".join(f"{m.code} ({self.name(m.parent_code)})" for m in matches)
            raise Refusal(
                "'{name}' names {n} villages; use a code: {options}",
                name=wanted,
                n=len(matches),
                options=options,
            )
        raise Refusal("no village with code or name '{name}'", name=wanted)

    def find_district(self, code_or_name: str) -> Place:
        wanted = code_or_name.strip()
        for d in self.districts:
            if wanted in (d.code,) or d.name.casefold() == wanted.casefold():
                return d
        raise Refusal("no district with code or name '{name}'", name=wanted)
