"""The flow definition: screens.toml read into frozen dataclasses, and nothing else.

The engine (engine.py) interprets a :class:`Flow`; the validator (validate.py) proves it sound.
Both take the flow they are given, so a test can hand them a modified copy of the data.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

SCREEN_TYPES = {"menu", "list", "input", "end", "router"}


@dataclass(frozen=True)
class Option:
    label: str  # catalog key
    key: str  # what the caller presses
    goto: str | None = None
    action: str | None = None
    set: Mapping[str, str] = field(default_factory=dict)
    journey: str | None = None


@dataclass(frozen=True)
class Screen:
    name: str
    type: str  # menu | list | input | end | router
    text: str | None = None  # catalog key of the screen's text
    options: tuple[Option, ...] = ()
    enter: str | None = None  # action run on arrival; may set vars or redirect
    items: str | None = None  # list: the var holding [[label, value], ...]
    var: str | None = None  # list: the var set to the chosen value
    goto: str | None = None  # list: where a chosen item leads
    action: str | None = None  # input: action judging the typed text; list: run after choice
    nav: bool = True  # show the "0 back 00 menu" line
    paged: bool = False  # may span several pages (validator allows it)


@dataclass(frozen=True)
class Samples:
    """Worst-case values the validator renders every screen with (see [samples] in the data)."""

    values: Mapping[str, str] = field(default_factory=dict)  # placeholder -> value
    # placeholder -> catalog keys (a key ending in "." stands for every text under it): filled,
    # in each language, with the longest of those texts
    longest: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    list_item: str = ""  # a list filled by the outside world shows this label ...
    list_length: int = 1  # ... this many times


@dataclass(frozen=True)
class Flow:
    start: str  # the main menu
    resume: str  # the "continue where you left off?" offer
    screens: Mapping[str, Screen]
    samples: Samples = field(default_factory=Samples)

    def journeys(self) -> list[str]:
        """The journeys the main menu offers, in its order (``journey`` of its options)."""
        main = self.screens.get(self.start)
        return [o.journey for o in main.options if o.journey] if main else []

    def journey_option(self, journey: str) -> Option:
        """The main-menu option that starts ``journey``; KeyError if the menu has none."""
        main = self.screens[self.start]
        for option in main.options:
            if option.journey == journey:
                return option
        raise KeyError(f"the main menu offers no journey '{journey}'")


def _option(raw: Mapping[str, Any], position: int) -> Option:
    return Option(
        label=raw["label"],
        key=str(raw.get("key", position)),
        goto=raw.get("goto"),
        action=raw.get("action"),
        set=dict(raw.get("set", {})),
        journey=raw.get("journey"),
    )


def _samples(raw: Mapping[str, Any]) -> Samples:
    raw = dict(raw)
    longest = raw.pop("longest", {})
    lists = raw.pop("lists", {})
    return Samples(
        values={k: str(v) for k, v in raw.items()},
        longest={k: tuple(v) for k, v in longest.items()},
        list_item=str(lists.get("item", "")),
        list_length=int(lists.get("length", 1)),
    )


def build_flow(data: Mapping[str, Any]) -> Flow:
    """A flow from screens.toml's data, already parsed (tests pass a modified copy)."""
    screens: dict[str, Screen] = {}
    for name, raw in data["screens"].items():
        raw = dict(raw)
        options = tuple(_option(o, i) for i, o in enumerate(raw.pop("options", []), start=1))
        screens[name] = Screen(name=name, options=options, **raw)
    return Flow(
        start=data["start"],
        resume=data["resume"],
        screens=screens,
        samples=_samples(data.get("samples", {})),
    )


def read_flow_data(path: Path | None = None) -> dict[str, Any]:
    source = path or Path(str(resources.files("flows") / "screens.toml"))
    with source.open("rb") as f:
        return tomllib.load(f)


def load_flow(path: Path | None = None) -> Flow:
    """The shipped flow (flows/screens.toml), or the one at ``path``."""
    return build_flow(read_flow_data(path))
