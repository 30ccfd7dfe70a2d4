"""What a broadcast run found: a ``Result`` per scenario, the table, the verdict against the
issue's targets, the details, and the JSON copy."""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Targets of the issue, for 100,000 residents.
TARGET_PLAN_S, TARGET_HANDOVER_S, TARGET_RATIO, TARGET_RSS_MB = 15.0, 60.0, 20.0, 250.0
TARGET_THROTTLE = (0.90, 1.00)
TARGET_RESIDENTS = 100_000

ROLES = ("planner", "worker", "horse", "scheduler", "fake", "bind")


@dataclass
class Result:
    scenario: str
    messages: int  # written to the outbox by the planner
    handed_over: int  # accepted by the fake provider
    plan_s: float
    enqueue_s: float
    handover_s: float | None  # end of planning -> the provider accepted every message
    recorded_s: float | None  # end of planning -> every row 'sent' in the database
    rate: float  # messages/s (B: over the window after enqueueing)
    projected_s: float | None = None  # B: 100 % at its rate, enqueueing included
    rate_windows: tuple[float, float] | None = None  # C: min, max over sliding windows
    duplicates: int = 0
    provider_calls: int = 0
    jobs: int = 0
    horses: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)  # from the end of planning
    plan_cpu_s: dict[str, float] = field(default_factory=dict)  # during planning
    machine_busy: float = 0.0  # share of all cores busy from the end of planning
    note: str = ""
    smsc: dict[str, int] = field(default_factory=dict)  # --provider smpp: the SMSC's stats
    first_s: float | None = None  # end of planning -> the provider accepted the first message
    per_second: list[int] = field(default_factory=list)  # accepted in each second from `first_s`


def table(results: Sequence[Result]) -> str:
    head = (
        f"{'scenario':<26} {'messages':>8} {'plan s':>7} {'enq s':>6} {'hand-over s':>11} "
        f"{'msg/s':>7}  peak RSS MB: " + " ".join(f"{r:>9}" for r in ROLES)
    )
    lines = [head, "-" * len(head)]
    for r in results:
        handover = (
            f"{r.handover_s:.1f}"
            if r.handover_s is not None
            else f"~{r.projected_s:.0f} proj."
            if r.projected_s is not None
            else "n/a"
        )
        lines.append(
            f"{r.scenario:<26} {r.messages:>8} {r.plan_s:>7.2f} {r.enqueue_s:>6.2f} "
            f"{handover:>11} {r.rate:>7.1f}               "
            + " ".join(f"{r.peak_rss_mb.get(role, 0):>9.1f}" for role in ROLES)
        )
    return "\n".join(lines)


def verdicts(results: Sequence[Result], args: argparse.Namespace) -> list[tuple[str, bool]]:
    """PASS/FAIL against the issue's targets (scaled to --residents when it is not 100,000)."""
    a, b, c = results
    scale = args.residents / TARGET_RESIDENTS
    plan_target, handover_target = TARGET_PLAN_S * scale, TARGET_HANDOVER_S * scale
    checks = [
        (f"A planning {a.plan_s:.2f} s <= {plan_target:.1f} s", a.plan_s <= plan_target),
        (
            f"A all {a.messages} handed over in {a.handover_s} s <= {handover_target:.1f} s "
            f"(recorded 'sent' at {a.recorded_s} s)",
            a.handover_s is not None
            and a.handover_s <= handover_target
            and a.recorded_s is not None,
        ),
        (
            f"A/B rate {a.rate:.0f} / {b.rate:.1f} = {a.rate / b.rate if b.rate else 0:.1f}x "
            f">= {TARGET_RATIO:.0f}x",
            b.rate > 0 and a.rate / b.rate >= TARGET_RATIO,
        ),
        (
            f"C rate {c.rate:.1f}/s = {c.rate / args.rate:.1%} of {args.rate:g}/s, within "
            f"{TARGET_THROTTLE[0]:.0%}-{TARGET_THROTTLE[1]:.0%}",
            TARGET_THROTTLE[0] <= c.rate / args.rate <= TARGET_THROTTLE[1]
            and c.handover_s is not None,
        ),
    ]
    peak = max(
        (mb, f"{r.scenario[0]} {role}") for r in results for role, mb in r.peak_rss_mb.items()
    )
    checks.append(
        (
            f"no process above {TARGET_RSS_MB:.0f} MB (largest: {peak[1]} {peak[0]:.1f} MB)",
            peak[0] <= TARGET_RSS_MB,
        )
    )
    duplicates = sum(r.duplicates for r in results)
    checks.append((f"no message handed over twice ({duplicates} duplicates)", duplicates == 0))
    if scale != 1:
        checks = [
            (f"{what} [scaled to {args.residents} residents]" if i < 2 else what, ok)
            for i, (what, ok) in enumerate(checks)
        ]
    return checks


def details(results: Sequence[Result]) -> str:
    lines = []
    for r in results:
        plan_cpu = ", ".join(f"{k} {r.plan_cpu_s.get(k, 0):.1f}" for k in ("planner", "postgres"))
        cpu = ", ".join(f"{k} {v:.1f}" for k, v in r.cpu_s.items())
        windows = (
            f"; {r.rate_windows[0]}-{r.rate_windows[1]}/s over sliding windows"
            if r.rate_windows
            else ""
        )
        lines.append(
            f"{r.scenario}: {r.note}{windows}; {r.provider_calls} "
            f"{'submit_sm' if r.smsc else 'provider calls'}, {r.jobs} jobs, "
            f"{r.horses} work horses; recorded 'sent' at {r.recorded_s} s; {r.statuses}; "
            f"{r.duplicates} duplicates\n"
            f"    CPU s planning: {plan_cpu} | from enqueueing on: {cpu}; machine busy "
            f"{r.machine_busy:.0%}"
        )
    return "\n".join(lines)


def shared_machine_notes(results: Sequence[Result]) -> list[str]:
    """A NOTE for each scenario during which other work took a noticeable share of the CPU."""
    notes = []
    for r in results:
        other, mine = r.cpu_s.get("other", 0.0), sum(r.cpu_s.values()) - r.cpu_s.get("other", 0)
        if other > max(0.1 * mine, 5.0):
            notes.append(
                f"NOTE  {r.scenario}: other work on the machine used {other:.0f} CPU s while "
                f"it ran (this benchmark: {mine:.0f}); its numbers are pessimistic"
            )
    return notes


def write_json(
    path: Path,
    args: argparse.Namespace,
    results: Sequence[Result],
    checks: list[tuple[str, bool]],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "machine": {
                    "node": platform.node(),
                    "cores": os.cpu_count(),
                    "python": platform.python_version(),
                },
                "results": [asdict(r) for r in results],
                "checks": [{"check": what, "pass": ok} for what, ok in checks],
            },
            indent=2,
        )
    )
