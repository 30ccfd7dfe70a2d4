"""A document request's statuses as a lifecycle: which moves are allowed, which need a reason,
and which SMS each sends. The one place that says it; the console, the CLI and the CSV import
all change a status through ``gateway.staff_actions.set_request_status``, which asks ``move``.

    submitted ──> processing ──> ready ──> collected
        │             │            ^
        └──> rejected ("perlu dilengkapi", with its reason) ──> back into the line above

A move to a later step is *forward* and sends ``sms.status_changed``. A move to an earlier step
(collected → submitted, ready → processing, …) is a *correction*: staff must say why, and the
resident gets ``sms.status_corrected`` with that reason. The same status again is *unchanged*
and sends nothing — unless what the resident was told with it (the pickup place, the reason)
changed, which is told as an *update* (``sms.status_changed`` again).
"""

from __future__ import annotations

from dataclasses import dataclass

from common.refusals import Refusal, Word

STATUSES = ("submitted", "processing", "ready", "collected", "rejected")  # storage/vocab.py
NEEDS_COMPLETION = "rejected"  # shown as "Perlu dilengkapi" / "Incomplete"

# The reasons staff choose from for "perlu dilengkapi"; their words are the catalogs'
# (``incomplete.<code>``). Anything else is the staff's own words, at most REASON_LONGEST.
INCOMPLETE_REASONS = ("photo", "kk", "signature", "birth_cert", "form", "data_mismatch")
REASON_LONGEST = 60

FORWARD, CORRECTION, UNCHANGED, UPDATE = "forward", "correction", "unchanged", "update"

# from -> {to: kind}; a move absent from the table is refused.
TRANSITIONS: dict[str, dict[str, str]] = {
    "submitted": {"processing": FORWARD, "ready": FORWARD, "rejected": FORWARD},
    "processing": {"ready": FORWARD, "rejected": FORWARD, "submitted": CORRECTION},
    "rejected": {"submitted": FORWARD, "processing": FORWARD, "ready": FORWARD},
    "ready": {
        "collected": FORWARD,
        "submitted": CORRECTION,
        "processing": CORRECTION,
        "rejected": CORRECTION,
    },
    "collected": {
        "ready": CORRECTION,
        "processing": CORRECTION,
        "submitted": CORRECTION,
        "rejected": CORRECTION,
    },
}

SMS_OF = {  # which SMS each kind of move sends (catalog keys); None: nothing
    FORWARD: "sms.status_changed",
    UPDATE: "sms.status_changed",
    CORRECTION: "sms.status_corrected",
    UNCHANGED: None,
}


class MoveRefused(Refusal):
    """The move is not in the lifecycle, or needs a reason it was not given (a refusal the
    console says in the reader's language; statuses are passed as ``Word``s)."""


@dataclass(frozen=True)
class Move:
    before: str
    after: str
    kind: str  # FORWARD | CORRECTION | UNCHANGED | UPDATE
    reason: str | None  # what is stored with the new status (None: no reason)

    @property
    def sms(self) -> str | None:
        return SMS_OF[self.kind]


def kind_of(before: str, after: str) -> str | None:
    """FORWARD, CORRECTION, UNCHANGED, or None when the lifecycle has no such move."""
    if before == after:
        return UNCHANGED
    return TRANSITIONS.get(before, {}).get(after)


def clean_reason(reason: str | None) -> str | None:
    """A reason as staff gave it: a code of INCOMPLETE_REASONS, or their own words, trimmed."""
    reason = " ".join((reason or "").split())
    if not reason:
        return None
    if len(reason) > REASON_LONGEST:
        raise MoveRefused("The reason is longer than {n} characters.", n=str(REASON_LONGEST))
    return reason


def move(
    before: str,
    after: str,
    *,
    reason: str | None = None,
    details_changed: bool = False,
    old_reason: str | None = None,
) -> Move:
    """The move from ``before`` to ``after``, or MoveRefused. ``reason``: for "perlu
    dilengkapi" what is missing, for a correction why; ``details_changed``: the pickup place
    given differs from the one the resident was told."""
    if after not in STATUSES:
        raise MoveRefused("Unknown status: {status}", status=Word(after))
    kind = kind_of(before, after)
    if kind is None:
        raise MoveRefused(
            "A request cannot go from {before} to {after}.", before=Word(before), after=Word(after)
        )
    reason = clean_reason(reason)
    if after == NEEDS_COMPLETION and reason is None:
        raise MoveRefused("Say what is missing (the resident is told).")
    if kind == CORRECTION and reason is None:
        raise MoveRefused(
            "Going back from {before} to {after} needs a reason (the resident is told).",
            before=Word(before),
            after=Word(after),
        )
    if kind == UNCHANGED:
        reason = reason if reason is not None else old_reason
        if details_changed or reason != old_reason:
            kind = UPDATE
    elif kind == FORWARD and after != NEEDS_COMPLETION:
        reason = None  # a step forward leaves the old reason behind
    return Move(before, after, kind, reason)
