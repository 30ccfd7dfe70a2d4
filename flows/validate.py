"""Proves the flow data sound: every target exists, every text is in every catalog with the
same placeholders, and every screen fits its transport in every language.

It reads only data: the flow (screens.toml), the catalogs, and what each action declares when it
registers (``@action(...)`` in flows/actions.py: the screens it may lead to). Run by the tests;
``python -m flows.validate`` prints the problems (exit 1 if any).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

from flows import USSD_PREFIX_LENGTH, USSD_SCREEN_LIMIT, keywords
from flows.actions import ACTIONS
from flows.catalog import Catalog, load_catalogs
from flows.engine import (
    BACK,
    FOOTER_TEXT,
    HOME,
    MORE,
    MORE_TEXT,
    Action,
    Context,
    Engine,
    Turn,
)
from flows.flow import SCREEN_TYPES, Flow, Screen, load_flow
from flows.voice import VOICE_KEYS, speak


def check_structure(flow: Flow, actions: Mapping[str, Action] = ACTIONS) -> list[str]:
    problems: list[str] = []
    names = set(flow.screens)
    for required in (flow.start, flow.resume):
        if required not in names:
            problems.append(f"start/resume screen '{required}' does not exist")
    for screen in flow.screens.values():
        problems += _check_screen(screen, names, actions)
    problems += _check_journeys(flow)
    for name, action in actions.items():
        for target in sorted(action.leads_to - names):
            problems.append(f"action '{name}': target '{target}' does not exist")
    # A var an action follows (a return address) must only ever name a screen.
    return_vars = {a.leads_to_var for a in actions.values() if a.leads_to_var}
    for screen in flow.screens.values():
        for option in screen.options:
            for var, value in option.set.items():
                if var in return_vars and value not in names:
                    problems.append(f"screen '{screen.name}': target '{value}' does not exist")
    return problems


def _check_screen(screen: Screen, names: set[str], actions: Mapping[str, Action]) -> list[str]:
    problems: list[str] = []
    where = f"screen '{screen.name}'"
    if screen.type not in SCREEN_TYPES:
        problems.append(f"{where}: unknown type '{screen.type}'")
    if screen.type == "router" and not screen.enter:
        problems.append(f"{where}: a router needs an 'enter' action")
    router = actions.get(screen.enter or "") if screen.type == "router" else None
    if router and not (router.leads_to or router.leads_to_var):
        problems.append(f"{where}: its 'enter' action declares no screen to lead to")
    if screen.type != "router" and not screen.text:
        problems.append(f"{where}: no text")
    if screen.type == "list" and not (
        screen.items and screen.var and (screen.goto or screen.action)
    ):
        problems.append(f"{where}: a list needs items, var and goto or action")
    if screen.type == "input" and not screen.action:
        problems.append(f"{where}: an input needs an action")
    used = [screen.enter, screen.action, *(o.action for o in screen.options)]
    for action in used:
        if action and action not in actions:
            problems.append(f"{where}: unknown action '{action}'")
    targets = [screen.goto] if screen.goto else []
    keys: set[str] = set()
    for option in screen.options:
        if option.key in keys or option.key in (BACK, HOME, MORE):
            problems.append(f"{where}: option key '{option.key}' is taken")
        keys.add(option.key)
        if not option.goto and not option.action:
            problems.append(f"{where}: option '{option.label}' leads nowhere")
        if option.goto:
            targets.append(option.goto)
    for target in targets:
        if target not in names:
            problems.append(f"{where}: target '{target}' does not exist")
    return problems


def _check_journeys(flow: Flow) -> list[str]:
    """Journeys are started by name (SMS keywords, the session log): each names one option of
    the main menu, and every journey a keyword starts is there."""
    problems: list[str] = []
    journeys = flow.journeys()
    for journey in sorted({j for j in journeys if journeys.count(j) > 1}):
        problems.append(f"journey '{journey}' is on the main menu more than once")
    for screen in flow.screens.values():
        if screen.name != flow.start and any(o.journey for o in screen.options):
            problems.append(f"screen '{screen.name}': journeys start at the main menu")
    for command, journey in keywords.JOURNEYS.items():
        if journey not in journeys:
            problems.append(f"keyword '{command}': the main menu has no journey '{journey}'")
    return problems


def text_keys(flow: Flow) -> set[str]:
    keys = {FOOTER_TEXT, MORE_TEXT}
    for screen in flow.screens.values():
        keys.update(k for k in [screen.text] if k)
        keys.update(o.label for o in screen.options)
    return keys


def check_catalogs(
    flow: Flow, catalogs: Mapping[str, Catalog], required: Iterable[str] = ()
) -> list[str]:
    problems: list[str] = []
    if not catalogs:
        return ["no catalogs"]
    reference = next(iter(catalogs.values()))  # the default language: every other follows it
    needed = text_keys(flow) | set(required) | set(reference.texts)
    for placeholder, keys in flow.samples.longest.items():
        for key in keys:
            if not any(_named(k, key) for k in needed):
                problems.append(f"samples: '{placeholder}' names no text '{key}'")
    for code, catalog in catalogs.items():
        for key in sorted(needed - set(catalog.texts)):
            problems.append(f"catalog '{code}': missing text '{key}'")
        for key in sorted(set(catalog.texts) - set(reference.texts)):
            problems.append(f"catalog '{code}': text '{key}' is not in '{reference.code}'")
        for key in sorted(set(catalog.texts) & set(reference.texts)):
            if catalog.placeholders(key) != reference.placeholders(key):
                problems.append(
                    f"catalog '{code}': '{key}' has placeholders "
                    f"{sorted(catalog.placeholders(key))}, "
                    f"'{reference.code}' has {sorted(reference.placeholders(key))}"
                )
    return problems


class _NoServices:
    phone = "+620000000000"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the validator renders without services (asked for {name})")


def check_lengths(
    flow: Flow,
    catalogs: Mapping[str, Catalog],
    max_chars: int = USSD_SCREEN_LIMIT - USSD_PREFIX_LENGTH,
    actions: Mapping[str, Action] = ACTIONS,
) -> list[str]:
    """Render every screen in every language with worst-case values and the longest error."""
    problems: list[str] = []
    engine = Engine(flow, catalogs, actions, max_chars)
    for code, catalog in catalogs.items():
        longest_error = max(
            (k for k in catalog.texts if k.startswith("error.")),
            key=lambda k: len(catalog.texts[k]),
        )
        for screen in flow.screens.values():
            if screen.type == "router":
                continue
            state = engine.new_state(code)
            state["vars"] = sample_values(flow, catalog)
            ctx = Context(_NoServices(), catalogs, state)  # type: ignore[arg-type]
            if screen.items:
                enter = actions.get(screen.enter or "")
                if enter and enter.pure:  # its real items (the languages), whatever they are
                    ctx.vars.update(enter.run(ctx, None).vars)
                else:  # items from the outside world: the longest list the data promises
                    ctx.vars[screen.items] = [[flow.samples.list_item, "v"]] * (
                        flow.samples.list_length
                    )
            error = {"end": None, "input": longest_error}.get(screen.type, "error.invalid_choice")
            pages = engine.pages(ctx, screen, error)
            where = f"screen '{screen.name}' in '{code}'"
            if len(pages) > 1 and not screen.paged:
                problems.append(f"{where}: needs {len(pages)} pages; shorten it or mark it paged")
            for number, page in enumerate(pages, 1):
                if len(page) > max_chars:
                    problems.append(
                        f"{where}: page {number} is {len(page)} characters (limit {max_chars})"
                    )
    return problems


def sample_values(flow: Flow, catalog: Catalog) -> dict[str, Any]:
    """Every placeholder's worst case in ``catalog``'s language: the flow's samples, and for
    labels the longest of the catalog texts the samples name."""
    values: dict[str, Any] = dict(flow.samples.values)
    for placeholder, keys in flow.samples.longest.items():
        texts = [text for key, text in catalog.texts.items() if any(_named(key, k) for k in keys)]
        values[placeholder] = max(texts, key=len, default="")
    return values


def _named(key: str, name: str) -> bool:
    """Whether a sample's ``name`` covers catalog ``key`` ("doc." covers "doc.ktp")."""
    return key == name or (name.endswith(".") and key.startswith(name))


def validate(
    flow: Flow | None = None,
    catalogs: Mapping[str, Catalog] | None = None,
    required: Iterable[str] = (),
) -> list[str]:
    flow = flow or load_flow()
    catalogs = catalogs or load_catalogs()
    problems = check_structure(flow) + check_catalogs(flow, catalogs, [*required, *VOICE_KEYS])
    if not problems:  # lengths need a sound structure and complete catalogs
        problems += check_lengths(flow, catalogs)
        problems += check_spoken(flow, catalogs)
    return problems


def check_spoken(
    flow: Flow, catalogs: Mapping[str, Catalog], actions: Mapping[str, Action] = ACTIONS
) -> list[str]:
    """Every screen, spoken (flows/voice.py), in every language: no placeholder left unfilled
    and no sentence empty. (The [voice] keys themselves are checked with every other text:
    in every catalog, with the same placeholders.)"""
    problems: list[str] = []
    engine = Engine(flow, catalogs, actions, USSD_SCREEN_LIMIT - USSD_PREFIX_LENGTH)
    for code, catalog in catalogs.items():
        for screen in flow.screens.values():
            if screen.type == "router":
                continue
            state = engine.new_state(code)
            state["screen"] = screen.name
            state["vars"] = sample_values(flow, catalog)
            ctx = Context(_NoServices(), catalogs, state)  # type: ignore[arg-type]
            if screen.items:
                ctx.vars[screen.items] = [[flow.samples.list_item, "v"]] * 12
            for page in engine.pages(ctx, screen):
                turn = Turn(text=page, end=screen.type == "end", state=state)
                for sentence in speak(engine, turn, welcome=True).sentences:
                    if not sentence.strip() or "{" in sentence or "}" in sentence:
                        problems.append(
                            f"screen '{screen.name}' in '{code}': spoken {sentence!r} is "
                            "empty or holds a placeholder"
                        )
    return problems


if __name__ == "__main__":
    found = validate()
    for problem in found:
        print(problem)
    print(f"{len(found)} problem(s)")
    sys.exit(1 if found else 0)
