"""The flow data and the engine, without Flask or a database."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import pytest

from common.office import Office
from common.settings import DEFAULTS
from flows import build_engine, journeys
from flows.actions import ACTIONS
from flows.catalog import load_catalogs
from flows.engine import Action, Engine, Outcome
from flows.flow import Flow, build_flow, load_flow, read_flow_data
from flows.validate import check_catalogs, check_lengths, check_structure, validate
from storage.vocab import BOOKING_SERVICES, BOOKING_STATUSES, DOC_TYPES, REQUEST_STATUSES

# Every code stored in the database needs words in every language.
STORED_CODES = (
    [f"doc.{c}" for c in DOC_TYPES]
    + [f"request_status.{c}" for c in REQUEST_STATUSES]
    + [f"booking_status.{c}" for c in BOOKING_STATUSES]
    + [f"service.{c}" for c in BOOKING_SERVICES]
    + [f"checklist.{c}" for c in DOC_TYPES]
)


def test_the_shipped_flow_is_valid() -> None:
    assert validate(required=STORED_CODES) == []


def test_validator_catches_a_missing_target() -> None:
    flow = load_flow()
    main = flow.screens["main"]
    broken_option = dataclasses.replace(main.options[0], goto="nowhere")
    screens = {
        **flow.screens,
        "main": dataclasses.replace(main, options=(broken_option, *main.options[1:])),
    }
    problems = check_structure(dataclasses.replace(flow, screens=screens))
    assert problems == ["screen 'main': target 'nowhere' does not exist"]


def test_validator_catches_a_missing_key_and_a_placeholder_mismatch() -> None:
    flow = load_flow()
    catalogs = load_catalogs()
    en = catalogs["en"]
    texts = dict(en.texts)
    del texts["main.status"]
    texts["hv.done"] = "Received. Number: {numbr}."
    broken = {**catalogs, "en": dataclasses.replace(en, texts=texts)}
    problems = check_catalogs(flow, broken)
    assert "catalog 'en': missing text 'main.status'" in problems
    assert any("'hv.done' has placeholders ['numbr']" in p for p in problems)


def test_validator_catches_a_sample_that_names_no_text() -> None:
    data = read_flow_data()
    data["samples"]["longest"]["doc_label"] = ["document."]
    problems = check_catalogs(build_flow(data), load_catalogs())
    assert problems == ["samples: 'doc_label' names no text 'document.'"]


def test_the_validator_runs_as_a_command() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "flows.validate"],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "0 problem(s)\n")


def test_validator_catches_a_screen_that_does_not_fit() -> None:
    flow = load_flow()
    catalogs = load_catalogs()
    en = catalogs["en"]
    long_label = dataclasses.replace(en, texts={**en.texts, "main.status": "x" * 60})
    problems = check_lengths(flow, {**catalogs, "en": long_label})
    assert problems == ["screen 'main' in 'en': needs 2 pages; shorten it or mark it paged"]


def test_a_new_language_is_a_file_not_code(tmp_path: Path) -> None:
    """The office can add Basa Bali by copying a catalog: it appears in the language menu."""
    source = Path(__file__).parents[1] / "flows" / "catalogs"
    for path in source.glob("*.toml"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    bali = (
        (source / "id.toml").read_text().replace('name = "Bahasa Indonesia"', 'name = "Basa Bali"')
    )
    bali = bali.replace("order = 1", "order = 3").replace('locale = "id"', 'locale = "id"')
    (tmp_path / "ban.toml").write_text(bali)
    catalogs = load_catalogs(tmp_path)
    assert list(catalogs) == ["id", "en", "ban"]
    assert validate(catalogs=catalogs) == []
    engine = build_engine(156, catalogs=catalogs)
    turn = engine.begin(_NoServices(), "id", None)
    turn = engine.advance(_NoServices(), turn.state, "5")
    assert turn.text.endswith("1 Bahasa Indonesia\n2 English\n3 Basa Bali\n0 Kembali 00 Menu")


class _NoServices:
    phone = "+6281299990009"

    def office(self) -> Office:
        return Office.from_settings(DEFAULTS)

    def my_bookings(self) -> list[object]:
        return []

    def set_language(self, language: str) -> None:
        self.language = language


def test_every_catalog_parses_and_has_the_same_keys() -> None:
    folder = Path(__file__).parents[1] / "flows" / "catalogs"
    keys = []
    for path in sorted(folder.glob("*.toml")):
        with path.open("rb") as f:
            tomllib.load(f)
        keys.append(set(load_catalogs()[path.stem].texts))
    assert all(k == keys[0] for k in keys)


@pytest.fixture
def engine() -> Engine:
    return build_engine(156)


def _state(engine: Engine, screen: str, **vars: Any) -> dict[str, Any]:
    state = engine.new_state("id")
    state.update(screen=screen, vars=vars)
    return state


def test_long_lists_are_paged_and_numbered_across_pages(engine: Engine) -> None:
    villages = [[f"Desa Nomor {i:02d}", f"code{i}"] for i in range(1, 30)]
    state = _state(engine, "pick_village", village_items=villages)
    pages: list[str] = []
    turn = engine.advance(_NoServices(), state, "98")  # type: ignore[arg-type]
    state["page"] = 0
    screen = engine.flow.screens["pick_village"]
    from flows.engine import Context

    pages = engine.pages(Context(_NoServices(), engine.catalogs, state), screen)  # type: ignore[arg-type]
    assert len(pages) >= 3
    assert all(len(p) <= 156 for p in pages)
    numbered = [
        line
        for p in pages
        for line in p.split("\n")
        if line.split(" ")[0].isdigit() and line.split(" ")[0] not in ("0", "98")
    ]
    assert [int(line.split(" ")[0]) for line in numbered] == list(range(1, 30))
    assert all(p.endswith("98 Lanjut\n0 Kembali 00 Menu") for p in pages[:-1])
    assert pages[-1].endswith("29 Desa Nomor 29\n0 Kembali 00 Menu")
    assert turn.text == pages[1]


def test_more_on_the_last_page_is_an_invalid_choice(engine: Engine) -> None:
    turn = engine.begin(_NoServices(), "id", None)  # type: ignore[arg-type]
    turn = engine.advance(_NoServices(), turn.state, "98")  # type: ignore[arg-type]
    assert turn.text.startswith("Pilihan salah.\nAdminduk Buleleng")


def test_an_unknown_language_falls_back_to_the_default(engine: Engine) -> None:
    turn = engine.begin(_NoServices(), "xx", None)  # type: ignore[arg-type]
    assert turn.state["lang"] == "id"
    assert turn.text.startswith("Adminduk Buleleng\n1 Cek status")


def test_every_sms_text_fits_one_gsm7_segment() -> None:
    """Routine messages cost one segment: each sms.* text, filled with worst-case values."""
    from common.request_lifecycle import REASON_LONGEST
    from common.segments import count_segments
    from flows.validate import sample_values

    flow = load_flow()
    for code, catalog in load_catalogs().items():
        values = sample_values(flow, catalog)
        values["pickup"] = (
            catalog.text("sms.status_pickup", place="Kantor Desa Pangkungparuk")
            + " "
            + catalog.text("status.hours", hours="Sen-Jum 08.00-15.00")
            + " "
            + catalog.text("status.bring", bring="tanda terima, KTP lama")
        )
        values["bring"] = catalog.text("sms.visit_bring", bring="KK asli dan KTP lama")
        # (a visit's forms deadline is added only where it still fits: resident_sms._one_segment)
        values["forms"] = ""
        values["village_name"] = "Pangkungparuk"
        reason = catalog.text("sms.status_reason", reason="x" * REASON_LONGEST)
        for key in (k for k in catalog.texts if k.startswith("sms.")):
            # a status SMS says where to collect, or why (flows/request_status.py): not both
            for extra in ({"reason": ""}, {"pickup": "", "reason": reason}):
                text = catalog.text(key, **{**values, **extra})
                count = count_segments(text)
                assert (count.encoding, count.segments) == ("GSM-7", 1), (
                    code,
                    key,
                    len(text),
                    text,
                )


def test_a_resume_offer_never_nests_older_ones(engine: Engine) -> None:
    """A caller who drops again and again must not grow the stored state."""
    import json

    services: Any = _NoServices()
    turn = engine.begin(services, "id", None)
    turn = engine.advance(services, turn.state, "2")  # mid-journey, then the line drops
    sizes = []
    for _ in range(5):
        turn = engine.begin(services, "id", turn.state)  # dials again: offered to resume
        assert turn.text.startswith("Lanjutkan yang tadi?")
        sizes.append(len(json.dumps(turn.state)))
    assert len(set(sizes)) == 1
    turn = engine.advance(services, turn.state, "2")  # start again
    assert "resume_from" not in turn.state


# --- journeys by name ------------------------------------------------------------------------

MAIN_REORDERED = (
    "Adminduk Buleleng\n1 Minta petugas ke rumah\n2 Jadwal petugas ke desa\n"
    "3 Layanan prioritas\n4 Bahasa/Language\n5 Hubungi kantor\n6 Cek status"
)


def reordered_menu() -> Flow:
    """The shipped screens.toml with the main menu's first option moved to the end."""
    data = read_flow_data()
    options = data["screens"]["main"]["options"]
    options.append(options.pop(0))
    return build_flow(data)


def test_the_journeys_are_named_in_main_menu_order() -> None:
    assert journeys() == ["status", "home_visit", "next_visit", "priority", "language", "contact"]
    journeys().clear()  # a copy: the caller cannot change what others read
    assert journeys()[0] == "status"
    assert reordered_menu().journeys() == [
        "home_visit",
        "next_visit",
        "priority",
        "language",
        "contact",
        "status",
    ]


def test_a_journey_starts_by_name_wherever_the_menu_puts_it() -> None:
    flow = reordered_menu()
    assert validate(flow=flow) == []
    engine = build_engine(156, flow=flow)
    services: Any = _NoServices()
    assert engine.begin(services, "id", None).text == MAIN_REORDERED
    turn = engine.begin_journey(services, "id", "home_visit")
    assert turn.text == (
        "Petugas datang untuk siapa?\n1 Saya sendiri\n2 Anggota keluarga\n0 Kembali 00 Menu"
    )
    assert (turn.state["journey"], turn.state["hops"]) == ("home_visit", 1)
    assert engine.advance(services, turn.state, "0").text == MAIN_REORDERED  # back: the menu
    turn = engine.begin_journey(services, "en", "priority")
    assert turn.text.startswith("Religious leaders, with a child under 3,")
    assert turn.state["journey"] == "priority"
    # What pressing the journey's digit does, starting by name does, in either order.
    newcomer: Any = _Newcomer()
    for menu in (load_flow(), flow):
        engine = build_engine(156, flow=menu)
        for option in menu.screens["main"].options:
            assert option.journey is not None
            by_name = engine.begin_journey(newcomer, "id", option.journey)
            start = engine.begin(newcomer, "id", None)
            by_digit = engine.advance(newcomer, start.state, option.key)
            assert (by_name.text, by_name.state["journey"]) == (by_digit.text, option.journey)
            assert by_name.state["vars"] == by_digit.state["vars"]
            assert by_name.state["stack"] == by_digit.state["stack"] == [["main", 0]]


class _Newcomer(_NoServices):
    """A caller with no requests on file and no village remembered."""

    def my_requests(self) -> list[object]:
        return []

    def remembered_village(self) -> None:
        return None

    def districts(self) -> list[tuple[str, str]]:
        return [("51.08.09", "Tejakula")]


def test_a_journey_the_menu_does_not_offer_is_refused(engine: Engine) -> None:
    with pytest.raises(KeyError, match="no journey 'tax_return'"):
        engine.begin_journey(_NoServices(), "id", "tax_return")  # type: ignore[arg-type]


def test_validator_catches_a_journey_a_keyword_needs_and_the_menu_lost() -> None:
    data = read_flow_data()
    for option in data["screens"]["main"]["options"]:
        if option["journey"] == "home_visit":
            option["journey"] = "priority"  # now twice, and home_visit gone
    assert check_structure(build_flow(data)) == [
        "journey 'priority' is on the main menu more than once",
        "keyword 'home_visit': the main menu has no journey 'home_visit'",
    ]


# --- what actions declare --------------------------------------------------------------------


def test_validator_checks_the_targets_actions_declare() -> None:
    flow = load_flow()
    lost = Action(run=lambda ctx, text: Outcome(goto="hv_gone"), leads_to=frozenset({"hv_gone"}))
    assert check_structure(flow, {**ACTIONS, "hv_create": lost}) == [
        "action 'hv_create': target 'hv_gone' does not exist"
    ]


def test_validator_checks_where_a_return_address_points() -> None:
    data = read_flow_data()
    data["screens"]["sm_none"]["options"][1]["set"]["after_village"] = "sm_shown"
    assert check_structure(build_flow(data)) == [
        "screen 'sm_none': target 'sm_shown' does not exist"
    ]


def test_an_action_may_not_lead_where_it_did_not_declare() -> None:
    flow = load_flow()
    sloppy = dataclasses.replace(ACTIONS["pr_send"], run=lambda ctx, text: Outcome(goto="main"))
    engine = Engine(flow, load_catalogs(), {**ACTIONS, "pr_send": sloppy}, 156)
    state = _state(engine, "pr_checklist", doc="ktp", doc_label="KTP-el", checklist="KK asli")
    with pytest.raises(RuntimeError, match="action 'pr_send' led to 'main'"):
        engine.advance(_NoServices(), state, "1")  # type: ignore[arg-type]
