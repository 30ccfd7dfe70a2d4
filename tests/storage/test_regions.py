"""The official region list (storage/data): imported once, again without change, and found by code
or by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage import migrate
from storage.db import Database
from storage.models import Region
from storage.regions import RegionDirectory, bundled_csv, import_regions, read_regions_csv
from tests.helpers import KAYUPUTIH_BANJAR, KAYUPUTIH_SUKASADA, TEMBOK


def test_regions_import_into_empty_database_then_idempotent(empty_db: Database) -> None:
    migrate.upgrade(empty_db.engine)
    with empty_db.begin() as session:
        assert import_regions(session) == (158, 0)  # 1 regency + 9 districts + 148 villages
    with empty_db.begin() as session:
        assert import_regions(session) == (0, 0)
    with empty_db.begin() as session:
        levels = {
            level: count
            for level, count in session.execute(
                select(Region.level, func.count()).group_by(Region.level)
            )
        }
        directory = RegionDirectory.load(session)
    assert levels == {"kabupaten": 1, "kecamatan": 9, "desa": 129, "kelurahan": 19}
    assert len(directory.districts) == 9
    assert len(directory.villages) == 148
    assert [d.name for d in directory.districts] == [
        "Gerokgak",
        "Seririt",
        "Busungbiu",
        "Banjar",
        "Sukasada",
        "Buleleng",
        "Sawan",
        "Kubutambahan",
        "Tejakula",
    ]
    # every village hangs under one of the nine districts
    district_codes = {d.code for d in directory.districts}
    assert {v.parent_code for v in directory.villages} == district_codes


def test_regions_reimport_restores_a_changed_row(db: Database) -> None:
    with db.begin() as session:
        session.get(Region, TEMBOK).name = "Tembok Lama"
    with db.begin() as session:
        assert import_regions(session) == (0, 1)
    with db.begin() as session:
        assert session.get(Region, TEMBOK).name == "Tembok"
        assert session.scalar(select(func.count()).select_from(Region)) == 158


def test_read_regions_csv_rejects_bad_files(tmp_path: Path) -> None:
    assert len(read_regions_csv(bundled_csv())) == 158
    missing = tmp_path / "missing.csv"
    missing.write_text("code,name\n51.08,Buleleng\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"missing column\(s\) level, parent_code"):
        read_regions_csv(missing)
    bad_level = tmp_path / "bad_level.csv"
    bad_level.write_text(
        "code,name,level,parent_code\n51.08,Buleleng,kabupaten,\n"
        "51.08.01,Gerokgak,province,51.08\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"bad_level.csv:3: bad row"):
        read_regions_csv(bad_level)


@pytest.fixture
def directory(db: Database) -> RegionDirectory:
    with db.begin() as session:
        return RegionDirectory.load(session)


def test_find_village_by_code(directory: RegionDirectory) -> None:
    place = directory.find_village(TEMBOK)
    assert (place.code, place.name, place.parent_code) == (TEMBOK, "Tembok", "51.08.09")
    assert directory.find_village(f"  {TEMBOK} ").code == TEMBOK
    assert directory.name(place.parent_code) == "Tejakula"


@pytest.mark.parametrize("name", ["Tembok", "tembok", "TEMBOK", "  tEmBoK  "])
def test_find_village_by_name_is_case_insensitive(directory: RegionDirectory, name: str) -> None:
    assert directory.find_village(name).code == TEMBOK


def test_find_village_prefers_the_village_over_a_district_of_the_same_name(
    directory: RegionDirectory,
) -> None:
    assert directory.find_village("Tejakula").code.count(".") == 3
    assert directory.find_village("Tejakula").parent_code == "51.08.09"


def test_find_village_ambiguous_name_lists_both_codes(directory: RegionDirectory) -> None:
    with pytest.raises(ValueError) as caught:
        directory.find_village("kayuputih")
    message = str(caught.value)
    assert KAYUPUTIH_BANJAR in message and KAYUPUTIH_SUKASADA in message
    assert "Banjar" in message and "Sukasada" in message
    assert directory.find_village(KAYUPUTIH_SUKASADA).name == "Kayuputih"


@pytest.mark.parametrize(
    "wanted", ["Atlantis", "", "51.08.99.9999", "51.08.09", "51.08", "Tembokk"]
)
def test_find_village_unknown_raises(directory: RegionDirectory, wanted: str) -> None:
    with pytest.raises(ValueError, match="no village with code or name"):
        directory.find_village(wanted)


def test_villages_of_a_district(directory: RegionDirectory) -> None:
    tejakula = directory.find_district("tejakula")
    villages = directory.villages_of(tejakula.code)
    assert "Tembok" in [v.name for v in villages]
    assert all(v.parent_code == "51.08.09" for v in villages)
    assert sum(len(directory.villages_of(d.code)) for d in directory.districts) == 148
