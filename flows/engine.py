"""The conversation engine: screens are data (screens.toml), this interprets them.

One call per caller input: ``engine.begin(...)`` for the first hop of a session (or
``engine.begin_journey(...)``, straight into a journey the main menu names),
``engine.advance(...)`` for each input after. Each returns a :class:`Turn` — the text to show,
whether the conversation ends, and the new state — and touch nothing but the ``Services``
they are handed. The state is a small JSON-able dict, so any transport (USSD, SMS) can keep
it wherever it likes (Redis, memory) between inputs.

Rules every screen follows (docs/product.md): choices are numbers; ``0`` goes back (or to the
previous page), ``00`` to the main menu, ``98`` to the next page; anything else that is not a
choice re-shows the screen under a short error line. Text longer than the transport's limit is
paged.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flows.catalog import Catalog
from flows.flow import Flow, Option, Screen
from flows.services import Services

BACK, HOME, MORE = "0", "00", "98"
FOOTER_TEXT, MORE_TEXT = "nav.footer", "nav.more"  # catalog keys the engine itself shows
MAX_REDIRECTS = 8


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


Run = Callable[[Context, str | None], Outcome]


@dataclass(frozen=True)
class Action:
    """A step the data cannot express (flows/actions.py), with the screens it may lead to.

    The targets are declared rather than read from the code, so the validator can prove they
    exist, and the engine refuses an outcome that is not declared (the tests then catch a
    declaration that has fallen behind its code)."""

    run: Run
    leads_to: frozenset[str] = frozenset()
    # or to the screen named in this var: a return address the data sets (``set = {...}``)
    leads_to_var: str | None = None
    # needs nothing from the outside world: the validator may run it to render its screen
    pure: bool = False

    def allows(self, goto: str, vars: Mapping[str, Any]) -> bool:
        return goto in self.leads_to or (
            self.leads_to_var is not None and vars.get(self.leads_to_var) == goto
        )


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

    def begin_journey(self, services: Services, language: str, journey: str) -> Turn:
        """A new session that starts straight in ``journey`` (a name the main menu's options
        carry, e.g. ``"home_visit"``), as if the caller had chosen it there: SMS keywords
        start journeys by name, so reordering the menu cannot send them elsewhere."""
        option = self.flow.journey_option(journey)
        turn = self.begin(services, language, None)
        ctx = Context(services, self.catalogs, turn.state)
        return self._render(ctx, self._choose(ctx, option))

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
            return self._apply(ctx, self._run(ctx, screen.action, text))
        if screen.type == "list" and text.isdigit():
            items = ctx.vars.get(screen.items or "", [])
            index = int(text) - 1
            if 0 <= index < len(items) and not text.startswith("0"):
                if index >= self._items_shown(ctx, screen, items):
                    return "error.not_shown"  # on a later page: never picked unseen
                assert screen.var is not None
                ctx.vars[screen.var] = items[index][1]
                if screen.action:
                    return self._apply(ctx, self._run(ctx, screen.action))
                return self._apply(ctx, Outcome(goto=screen.goto))
        return "error.invalid_choice"

    def _choose(self, ctx: Context, option: Option) -> str | None:
        ctx.vars.update(option.set)
        if option.journey and not ctx.state.get("journey"):
            ctx.state["journey"] = option.journey
        if option.action:
            return self._apply(ctx, self._run(ctx, option.action))
        return self._apply(ctx, Outcome(goto=option.goto))

    def _run(self, ctx: Context, name: str, text: str | None = None) -> Outcome:
        action = self.actions[name]
        outcome = action.run(ctx, text)
        if outcome.goto and not action.allows(outcome.goto, ctx.vars):
            raise RuntimeError(
                f"action '{name}' led to '{outcome.goto}', which it does not declare"
            )
        return outcome

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
            outcome = self._run(ctx, screen.enter)
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
        footer = [ctx.t(FOOTER_TEXT)] if screen.nav and screen.type != "end" else []
        return body, footer

    def pages(self, ctx: Context, screen: Screen, error: str | None = None) -> list[str]:
        body, footer = self.lines(ctx, screen)
        head = [ctx.t(error)] if error else []
        single = "\n".join([*head, *body, *footer])
        if len(single) <= self.max_chars or screen.type == "end":
            return [single]
        more = ctx.t(MORE_TEXT)
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

    def _items_shown(self, ctx: Context, screen: Screen, items: list[Any]) -> int:
        """How many of a list's items the caller has seen: those on the current page and the
        pages before it (a paged list accepts only the numbers it has shown)."""
        pages = self.pages(ctx, screen)
        if len(pages) == 1:
            return len(items)
        page = min(ctx.state["page"], len(pages) - 1)
        seen = [line for shown in pages[: page + 1] for line in shown.split("\n")]
        count = 0
        for number, (label, _value) in enumerate(items, 1):
            line = f"{number} {label}"
            # a long item may be wrapped: its first piece starts the line
            if any(s.startswith(f"{number} ") and line.startswith(s) for s in seen):
                count = number
        return count

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
