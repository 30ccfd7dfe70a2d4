"""A journey's screens as steps: how many answers from the main menu each screen is. The
dashboard's funnel reads the session log's last screens through this (how many callers reach
each step, and where they hang up), so a new screen in screens.toml is charted without code."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping

from flows.actions import ACTIONS
from flows.engine import Action
from flows.flow import Flow


def journey_steps(
    flow: Flow, journey: str, actions: Mapping[str, Action] = ACTIONS
) -> dict[str, int]:
    """Each screen the journey can reach -> its step (1: the first screen after the main menu).
    A screen reached on several paths takes the shortest; a router (never shown) adds no step;
    a return address an option sets (``after_village``) is followed where an action goes back
    to it. The main menu and the resume offer belong to no journey."""
    option = flow.journey_option(journey)
    outside = {flow.start, flow.resume}
    steps: dict[str, int] = {}
    returns = tuple(option.set.values())
    queue: deque[tuple[str, int, tuple[str, ...]]] = deque(
        (name, 1, returns) for name in _leads(option.goto, [option.action], actions, returns)
    )
    while queue:
        name, step, returns = queue.popleft()
        screen = flow.screens.get(name)
        if screen is None or name in outside or name in steps:
            continue
        steps[name] = step
        next_step = step if screen.type == "router" else step + 1
        found = [
            (target, returns)
            for target in _leads(screen.goto, [screen.enter, screen.action], actions, returns)
        ]
        for o in screen.options:
            carried = (*returns, *o.set.values())
            found += [(target, carried) for target in _leads(o.goto, [o.action], actions, carried)]
        for target, carried in found:
            if next_step == step:  # through a router: the same step, looked at first
                queue.appendleft((target, next_step, carried))
            else:
                queue.append((target, next_step, carried))
    return steps


def _leads(
    goto: str | None,
    action_names: list[str | None],
    actions: Mapping[str, Action],
    returns: tuple[str, ...],
) -> Iterator[str]:
    """Where a screen or an option leads: its goto, its actions' declared screens, and for an
    action that follows a return address, the addresses set on the way here."""
    if goto:
        yield goto
    for name in action_names:
        action = actions.get(name or "")
        if action is None:
            continue
        yield from sorted(action.leads_to)
        if action.leads_to_var:
            yield from returns
