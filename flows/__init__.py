"""The conversations: pure Python state machines over screens and catalogs kept as data.

No Flask, no SQL: the outside world arrives as a ``Services`` object. USSD and SMS are two
transports over the same engine; each says how many characters a screen may have.
"""

from __future__ import annotations

from functools import cache

from flows.actions import ACTIONS
from flows.catalog import Catalog, load_catalogs
from flows.engine import Engine, Turn
from flows.flow import Flow, load_flow

USSD_SCREEN_LIMIT = 160  # including the "CON "/"END " prefix
USSD_PREFIX_LENGTH = 4
SMS_SCREEN_LIMIT = 160  # one GSM-7 segment


def build_engine(
    max_chars: int, flow: Flow | None = None, catalogs: dict[str, Catalog] | None = None
) -> Engine:
    return Engine(flow or load_flow(), catalogs or load_catalogs(), ACTIONS, max_chars)


def journeys(flow: Flow | None = None) -> list[str]:
    """The journeys of the main menu, in its order (e.g. ``["status", "home_visit", ...]``):
    the names the session log records, for any part that lists them (the dashboard). Without
    ``flow``, the shipped screens'."""
    if flow is not None:
        return flow.journeys()
    return list(_shipped_journeys())


@cache  # the shipped screens.toml does not change while a process runs
def _shipped_journeys() -> tuple[str, ...]:
    return tuple(load_flow().journeys())


__all__ = [
    "SMS_SCREEN_LIMIT",
    "USSD_PREFIX_LENGTH",
    "USSD_SCREEN_LIMIT",
    "Engine",
    "Turn",
    "build_engine",
    "journeys",
]
