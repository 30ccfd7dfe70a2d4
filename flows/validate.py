"""Proves the flow data sound: every target exists, every text is in every catalog with the
same placeholders, and every screen fits its transport in every language.

Run by the tests; ``python -m flows.validate`` prints the problems (exit 1 if any).
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from flows import USSD_PREFIX_LENGTH, USSD_SCREEN_LIMIT, actions
from flows.catalog import Catalog, load_catalogs
from flows.engine import SCREEN_TYPES, Context, Engine, Flow, load_flow

_GOTO_IN_ACTIONS = re.compile(r'goto="([a-z_]+)"')


def check_structure(flow: Flow) -> list[str]:
    problems: list[str] = []
    names = set(flow.screens)
    for required in (flow.start, flow.resume):
        if required not in names:
            problems.append(f"start/resume screen '{required}' does not exist")
    for screen in flow.screens.values():
        where = f"screen '{screen.name}'"
        if screen.type not in SCREEN_TYPES:
            problems.append(f"{where}: unknown type '{screen.type}'")
        if screen.type == "router" and not screen.enter:
            problems.append(f"{where}: a router needs an 'enter' action")
        if screen.type != "router" and not screen.text:
            problems.append(f"{where}: no text")
        if screen.type == "list" and not (
            screen.items and screen.var and (screen.goto or screen.action)
        ):
            problems.append(f"{where}: a list needs items, var and goto or action")
        if screen.type == "input" and not screen.action:
            problems.append(f"{where}: an input needs an action")
        for action in (screen.enter, screen.action):
            if action and action not in actions.ACTIONS:
                problems.append(f"{where}: unknown action '{action}'")
        targets = [screen.goto] if screen.goto else []
        keys: set[str] = set()
        for option in screen.options:
            if option.key in keys or option.key in ("0", "00", "98"):
                problems.append(f"{where}: option key '{option.key}' is taken")
            keys.add(option.key)
            if not option.goto and not option.action:
                problems.append(f"{where}: option '{option.label}' leads nowhere")
            if option.action and option.action not in actions.ACTIONS:
                problems.append(f"{where}: unknown action '{option.action}'")
            targets.extend(t for t in (option.goto, option.set.get("after_village")) if t)
        for target in targets:
            if target not in names:
                problems.append(f"{where}: target '{target}' does not exist")
    for target in _GOTO_IN_ACTIONS.findall(inspect.getsource(actions)):
        if target not in names:
            problems.append(f"flows/actions.py: target '{target}' does not exist")
    return problems


def text_keys(flow: Flow) -> set[str]:
    keys = {"nav.footer", "nav.more"}
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
    reference = catalogs.get("id") or next(iter(catalogs.values()))
    needed = text_keys(flow) | set(required) | set(reference.texts)
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
) -> list[str]:
    """Render every screen in every language with worst-case values and the longest error."""
    problems: list[str] = []
    engine = Engine(flow, catalogs, actions.ACTIONS, max_chars)
    for code, catalog in catalogs.items():
        longest_error = max(
            (k for k in catalog.texts if k.startswith("error.")),
            key=lambda k: len(catalog.texts[k]),
        )
        for screen in flow.screens.values():
            if screen.type == "router":
                continue
            values: dict[str, Any] = dict(flow.samples)
            values.update(_sample_labels(catalog))
            state = engine.new_state(code)
            state["vars"] = values
            ctx = Context(_NoServices(), catalogs, state)  # type: ignore[arg-type]
            if screen.items:
                try:  # lists that need no services (languages) are shown as they are
                    values.update(actions.ACTIONS[screen.enter or ""](ctx, None).vars)
                except (AssertionError, KeyError):  # others: the longest district's villages
                    values[screen.items] = [[flow.samples["village_name"], "v"]] * 29
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


def _sample_labels(catalog: Catalog) -> dict[str, str]:
    """The longest label of each kind, so a screen is proven with its worst case."""

    def longest(prefix: str) -> str:
        return max((v for k, v in catalog.texts.items() if k.startswith(prefix)), key=len)

    return {
        "doc_label": longest("doc."),
        "status_label": longest("request_status."),
        "service_label": longest("service."),
        "reason_label": longest("reason."),
        "checklist": longest("checklist."),
        "who_label": max(
            catalog.texts["hv.who_self_short"], catalog.texts["hv.who_family_short"], key=len
        ),
    }


def validate(
    flow: Flow | None = None,
    catalogs: Mapping[str, Catalog] | None = None,
    required: Iterable[str] = (),
) -> list[str]:
    flow = flow or load_flow()
    catalogs = catalogs or load_catalogs()
    problems = check_structure(flow) + check_catalogs(flow, catalogs, required)
    if not problems:  # lengths need a sound structure and complete catalogs
        problems += check_lengths(flow, catalogs)
    return problems


if __name__ == "__main__":
    found = validate()
    for problem in found:
        print(problem)
    print(f"{len(found)} problem(s)")
    sys.exit(1 if found else 0)
