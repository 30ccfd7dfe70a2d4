"""The conversation engine: screens are data (screens.toml), this interprets them.

One call per caller input: ``engine.begin(...)`` for the first hop of a session,
``engine.advance(...)`` for each input after. Both return a :class:`Turn` — the text to show,
whether the conversation ends, and the new state — and touch nothing but the ``Services``
they are handed. The state is a small JSON-able dict, so any transport (USSD, SMS) can keep
it wherever it likes (Redis, memory) between inputs.

Rules every screen follows (SPEC §3): choices are numbers; ``0`` goes back (or to the previous
page), ``00`` to the main menu, ``98`` to the next page; anything else that is not a choice
re-shows the screen under a short error line. Text longer than the transport's limit is paged.
"""

from __future__ import annotations

import textwrap
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from flows.catalog import Catalog
from flows.services import Services

BACK, HOME, MORE = "0", "00", "98"
MAX_REDIRECTS = 8


# --- the flow definition (data) --------------------------------------------------------------


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


SCREEN_TYPES = {"menu", "list", "input", "end", "router"}


@dataclass(frozen=True)
class Flow:
    start: str
    resume: str
    screens: Mapping[str, Screen]
    samples: Mapping[str, str]  # worst-case values for the validator


def _option(raw: Mapping[str, Any], position: int) -> Option:
    return Option(
        label=raw["label"],
        key=str(raw.get("key", position)),
        goto=raw.get("goto"),
        action=raw.get("action"),
        set=dict(raw.get("set", {})),
        journey=raw.get("journey"),
    )


def load_flow(path: Path | None = None) -> Flow:
    source = path or Path(str(resources.files("flows") / "screens.toml"))
    with source.open("rb") as f:
        data = tomllib.load(f)
    screens: dict[str, Screen] = {}
    for name, raw in data["screens"].items():
        raw = dict(raw)
        options = tuple(_option(o, i) for i, o in enumerate(raw.pop("options", []), start=1))
        screens[name] = Screen(name=name, options=options, **raw)
    return Flow(
        start=data["start"],
        resume=data["resume"],
        screens=screens,
        samples=dict(data.get("samples", {})),
    )


# --- what actions return and receive ---------------------------------------------------------


@dataclass
class Outcome:
    """What an action decides: go to a screen, or stay with an error, and vars to set."""

    goto: str | None = None
    error: str | None = None  # catalog key of the error line
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """One hop's view of the world, handed to actions."""

    services: Services
    catalogs: Mapping[str, Catalog]
    state: dict[str, Any]

    @property
    def lang(self) -> str:
        return str(self.state["lang"])

    @property
    def catalog(self) -> Catalog:
        return self.catalogs[self.lang]

    @property
    def vars(self) -> dict[str, Any]:
        return self.state["vars"]  # type: ignore[no-any-return]

    def t(self, key: str, **values: Any) -> str:
        return self.catalog.text(key, **values)


Action = Callable[[Context, str | None], Outcome]


@dataclass(frozen=True)
class Turn:
    text: str  # without any transport prefix
    end: bool
    state: dict[str, Any]


# --- the engine ------------------------------------------------------------------------------


class Engine:
    def __init__(
        self,
        flow: Flow,
        catalogs: Mapping[str, Catalog],
        actions: Mapping[str, Action],
        max_chars: int,
    ) -> None:
        self.flow = flow
        self.catalogs = catalogs
        self.actions = actions
        self.max_chars = max_chars
        self._error_reserve = {
            code: max(len(v) for k, v in c.texts.items() if k.startswith("error.")) + 1
            for code, c in catalogs.items()
        }

    # Entry points

    def begin(self, services: Services, language: str, previous: dict[str, Any] | None) -> Turn:
        """First hop of a session. ``previous`` is the state of the caller's last session,
        if it was left mid-journey recently: the caller is offered to resume it."""
        state = self.new_state(language if language in self.catalogs else self._default_lang())
        state["hops"] = 1
        ctx = Context(services, self.catalogs, state)
        if previous and previous.get("screen") == self.flow.resume:
            previous = previous.get("resume_from")  # dropped on the offer: offer it again
        if previous and self.is_resumable(previous):
            # Only the journey itself: never an older offer nested inside (states stay small).
            state["resume_from"] = {k: v for k, v in previous.items() if k != "resume_from"}
            self._enter(ctx, self.flow.resume)
        else:
            self._enter(ctx, self.flow.start)
        return self._render(ctx)

    def advance(self, services: Services, state: dict[str, Any], text: str) -> Turn:
        """One input of the caller, on the screen the state says they are on."""
        ctx = Context(services, self.catalogs, state)
        if state.get("ended"):  # input after the end: start afresh rather than fail
            state.update(self.new_state(ctx.lang))
            self._enter(ctx, self.flow.start)
            return self._render(ctx)
        state["hops"] = int(state.get("hops", 0)) + 1
        error = self._handle(ctx, text.strip())
        return self._render(ctx, error)

    def new_state(self, language: str) -> dict[str, Any]:
        return {
            "screen": self.flow.start,
            "page": 0,
            "stack": [],
            "vars": {},
            "lang": language,
            "journey": None,
            "ended": False,
            "hops": 0,
        }

    def is_resumable(self, state: Mapping[str, Any]) -> bool:
        screen = self.flow.screens.get(str(state.get("screen")))
        return (
            screen is not None
            and not state.get("ended")
            and screen.name not in (self.flow.start, self.flow.resume)
        )

    # Input handling

    def _handle(self, ctx: Context, text: str) -> str | None:
        """Apply one input; returns the catalog key of an error line, if any."""
        state = ctx.state
        screen = self.flow.screens[state["screen"]]
        if text == HOME:
            state["stack"] = []
            self._enter(ctx, self.flow.start)
            return None
        if text == BACK:
            if state["page"] > 0:
                state["page"] -= 1
            elif state["stack"]:
                name, page = state["stack"].pop()
                state["screen"], state["page"] = name, page  # no re-entry: no repeated look-up
            else:
                self._enter(ctx, self.flow.start)
            return None
        if text == MORE and state["page"] + 1 < self._page_count(ctx):
            state["page"] += 1
            return None

        for option in screen.options:
            if text == option.key:
                return self._choose(ctx, option)
        if screen.type == "input":
            assert screen.action is not None
            return self._apply(ctx, self.actions[screen.action](ctx, text))
        if screen.type == "list" and text.isdigit():
            items = ctx.vars.get(screen.items or "", [])
            index = int(text) - 1
            if 0 <= index < len(items) and not text.startswith("0"):
                assert screen.var is not None
                ctx.vars[screen.var] = items[index][1]
                if screen.action:
                    return self._apply(ctx, self.actions[screen.action](ctx, None))
                return self._apply(ctx, Outcome(goto=screen.goto))
        return "error.invalid_choice"

    def _choose(self, ctx: Context, option: Option) -> str | None:
        ctx.vars.update(option.set)
        if option.journey and not ctx.state.get("journey"):
            ctx.state["journey"] = option.journey
        if option.action:
            return self._apply(ctx, self.actions[option.action](ctx, None))
        return self._apply(ctx, Outcome(goto=option.goto))

    def _apply(self, ctx: Context, outcome: Outcome) -> str | None:
        ctx.vars.update(outcome.vars)
        if outcome.error:
            return outcome.error
        if outcome.goto:
            if outcome.goto == self.flow.start:
                ctx.state["stack"] = []
            else:
                ctx.state["stack"].append([ctx.state["screen"], ctx.state["page"]])
            self._enter(ctx, outcome.goto)
        return None

    def _enter(self, ctx: Context, name: str) -> None:
        """Arrive on a screen, following redirects of its ``enter`` action."""
        if name != self.flow.resume:
            ctx.state.pop("resume_from", None)  # the offer was declined or is behind us
        for _ in range(MAX_REDIRECTS):
            screen = self.flow.screens[name]
            ctx.state["screen"], ctx.state["page"] = name, 0
            if screen.type == "end":
                ctx.state["ended"] = True
            if not screen.enter:
                return
            outcome = self.actions[screen.enter](ctx, None)
            ctx.vars.update(outcome.vars)
            if not outcome.goto or outcome.goto == name:
                return
            name = outcome.goto
        raise RuntimeError(f"too many redirects arriving at screen '{name}'")

    # Rendering

    def lines(self, ctx: Context, screen: Screen) -> tuple[list[str], list[str]]:
        """The screen's body lines and its navigation footer lines, in the caller's language."""
        body: list[str] = []
        if screen.text:
            # Empty lines come from optional parts ("{pickup_line}") left blank: drop them.
            body.extend(line for line in ctx.t(screen.text, **ctx.vars).split("\n") if line)
        if screen.type == "list":
            for number, (label, _value) in enumerate(ctx.vars.get(screen.items or "", []), 1):
                body.append(f"{number} {label}")
        body.extend(f"{o.key} {ctx.t(o.label, **ctx.vars)}" for o in screen.options)
        footer = [ctx.t("nav.footer")] if screen.nav and screen.type != "end" else []
        return body, footer

    def pages(self, ctx: Context, screen: Screen, error: str | None = None) -> list[str]:
        body, footer = self.lines(ctx, screen)
        head = [ctx.t(error)] if error else []
        single = "\n".join([*head, *body, *footer])
        if len(single) <= self.max_chars or screen.type == "end":
            return [single]
        more = ctx.t("nav.more")
        # Paged as if the longest error line were shown, so pages are the same with or without
        # one and "98" always leads to the page the caller expects.
        reserve = self._error_reserve[ctx.lang]
        budget = self.max_chars - reserve - len("\n".join([more, *footer])) - 1
        return [
            "\n".join([*head, *chunk, more, *footer])
            if i < len(chunks) - 1
            else "\n".join([*head, *chunk, *footer])
            for chunks in [_pack(body, budget)]
            for i, chunk in enumerate(chunks)
        ]

    def _page_count(self, ctx: Context) -> int:
        return len(self.pages(ctx, self.flow.screens[ctx.state["screen"]]))

    def _render(self, ctx: Context, error: str | None = None) -> Turn:
        screen = self.flow.screens[ctx.state["screen"]]
        pages = self.pages(ctx, screen, error)
        page = min(ctx.state["page"], len(pages) - 1)
        text = pages[page]
        if len(text) > self.max_chars:  # an END screen that outgrew its budget: never exceed
            text = text[: self.max_chars - 1] + "…"
        return Turn(text=text, end=screen.type == "end", state=ctx.state)

    def _default_lang(self) -> str:
        return next(iter(self.catalogs))


def _pack(lines: list[str], budget: int) -> list[list[str]]:
    """Greedily pack lines into pages of at most ``budget`` characters (newlines counted),
    wrapping a line that is longer than a page at word boundaries."""
    pieces: list[str] = []
    for line in lines:
        pieces.extend(textwrap.wrap(line, budget) if len(line) > budget else [line])
    pages: list[list[str]] = [[]]
    used = -1
    for piece in pieces:
        if pages[-1] and used + 1 + len(piece) > budget:
            pages.append([])
            used = -1
        pages[-1].append(piece)
        used += 1 + len(piece)
    return pages
