"""What the runs add up to: each server's rounds of a mode merged into a ``Summary``, and the
verdict against the targets (issues 2 and 15)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.ussd.recovery import Recovery
from bench.ussd.runs import Run, merge, merge_per_hop, percentile

TARGET_RATIO = 0.35  # full journeys / bare Flask
TARGET_FLOOR_RATIO = 0.70  # full journeys / the one-Redis-round-trip reference (floor)
TARGET_P99_MS = 30.0
TARGET_RECOVERY_S = 3.0  # from Redis answering again to 99 % normal hops


@dataclass
class Summary:
    """All measured rounds of one server in one mode, merged."""

    server: str
    mode: str
    target_rate: float
    hops: int
    seconds: float
    journeys: int
    resumed: int
    p50_ms: float
    p99_ms: float
    sched_p99_ms: float | None  # rate mode: p99 from the time each hop was due
    late_p99_ms: float | None  # rate mode: p99 of how late the generator sent
    missed: int
    errors: dict[str, int]
    off_script: int
    round_rates: list[float]  # hops/s of each round
    cpu: dict[str, float]  # average cores: machine, gen, app, db, other
    per_hop: dict[str, list[float]]  # "journey#hop" -> [count, mean ms, max ms]
    samples: list[str]

    @property
    def hops_per_s(self) -> float:
        return self.hops / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def summarize(runs: list[Run]) -> Summary:
    hist: dict[int, int] = {}
    sched: dict[int, int] = {}
    late: dict[int, int] = {}
    errors: dict[str, int] = {}
    per_hop: dict[str, list[float]] = {}
    for r in runs:
        merge(hist, r.hist)
        merge(sched, r.hist_sched)
        merge(late, r.hist_late)
        merge(errors, r.errors)
        merge_per_hop(per_hop, r.per_hop)
    seconds = sum(r.duration_s for r in runs)
    cpu = {
        name: sum(getattr(r.cpu, name) * r.duration_s for r in runs) / seconds
        for name in ("machine", "gen", "app", "db", "other")
    }
    return Summary(
        server=runs[0].server,
        mode=runs[0].mode,
        target_rate=runs[0].target_rate,
        hops=sum(r.counters["hops"] for r in runs),
        seconds=seconds,
        journeys=sum(r.counters["journeys"] for r in runs),
        resumed=sum(r.counters["resumed"] for r in runs),
        p50_ms=percentile(hist, 50),
        p99_ms=percentile(hist, 99),
        sched_p99_ms=percentile(sched, 99) if sched else None,
        late_p99_ms=percentile(late, 99) if late else None,
        missed=sum(r.missed for r in runs),
        errors=errors,
        off_script=sum(r.counters["off_script"] for r in runs),
        round_rates=[r.hops_per_s for r in runs],
        cpu=cpu,
        per_hop={
            k: [v[0], v[1] / v[0] / 1000, v[2] / 1000]
            for k, v in sorted(per_hop.items(), key=hop_order)
        },
        samples=[s for r in runs for s in r.samples][:10],
    )


def hop_order(item: tuple[str, Any]) -> tuple[str, float]:
    name, _, hop = item[0].partition("#")
    return name, 1.5 if hop == "r" else float(hop or 0)  # "r": the answer to a resume offer


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def fmt_s(value: float | None) -> str:
    return "never (within the run)" if value is None else f"{value:.1f} s"


def verdict(
    summaries: list[Summary], runs: list[Run], recovery: Recovery | None
) -> tuple[bool, list[str]]:
    """Whether every target is met, and the lines that say so (ratios, PASS/FAIL, notes)."""

    def pick(server: str, mode: str) -> Summary:
        return next(s for s in summaries if s.server == server and s.mode == mode)

    full_max, bare_max, full_rate = pick("full", "max"), pick("bare", "max"), pick("full", "rate")
    ratio = full_max.hops_per_s / bare_max.hops_per_s
    rounds = [f / b for f, b in zip(full_max.round_rates, bare_max.round_rates, strict=True)]
    errors = sum(sum(r.errors.values()) for r in runs)
    off_script = sum(r.counters["off_script"] for r in runs if r.server == "full")
    other = max(s.cpu["other"] for s in summaries)
    lines = [
        f"full/bare max throughput: {full_max.hops_per_s:,.0f} / {bare_max.hops_per_s:,.0f} "
        f"hops/s = {ratio:.2f}x (by round: {', '.join(f'{x:.2f}' for x in rounds)})"
    ]
    checks = []
    floor_max = next((s for s in summaries if s.server == "floor" and s.mode == "max"), None)
    if floor_max is not None:  # the reference handler, in the same rounds

        def by_round(a: Summary, b: Summary) -> str:
            return ", ".join(
                f"{x / y:.2f}" for x, y in zip(a.round_rates, b.round_rates, strict=True)
            )

        lines.append(
            f"floor/bare (one Redis GET + SET, no flow, no database): "
            f"{floor_max.hops_per_s / bare_max.hops_per_s:.2f}x "
            f"(by round: {by_round(floor_max, bare_max)})"
        )
        floor_ratio = full_max.hops_per_s / floor_max.hops_per_s
        lines.append(f"full/floor: {floor_ratio:.2f}x (by round: {by_round(full_max, floor_max)})")
        checks.append(
            (
                floor_ratio >= TARGET_FLOOR_RATIO,
                f"throughput against the reference handler {floor_ratio:.2f} >= "
                f"{TARGET_FLOOR_RATIO:.2f}",
            )
        )
    if recovery is not None:
        checks.append(
            (
                recovery.seconds is not None and recovery.seconds <= TARGET_RECOVERY_S,
                f"normal hops again {fmt_s(recovery.seconds)} after Redis answered "
                f"<= {TARGET_RECOVERY_S:g} s (down {recovery.outage_s:.1f} s at "
                f"{recovery.rate:,.0f} hops/s)",
            )
        )
    checks += [
        (ratio >= TARGET_RATIO, f"throughput ratio {ratio:.2f} >= {TARGET_RATIO:.2f}"),
        (
            full_rate.p99_ms < TARGET_P99_MS,
            f"full p99 at {full_rate.target_rate:,.0f} hops/s: {full_rate.p99_ms:.1f} ms < "
            f"{TARGET_P99_MS:.0f} ms (from the time each hop was due: "
            f"{fmt_ms(full_rate.sched_p99_ms)} ms)",
        ),
        (
            full_rate.hops_per_s >= 0.95 * full_rate.target_rate and full_rate.missed == 0,
            f"the fixed-rate run kept up: {full_rate.hops_per_s:,.0f} of "
            f"{full_rate.target_rate:,.0f} hops/s, {full_rate.missed} hops without an idle caller",
        ),
        (errors == 0, f"errors (warm-up included): {errors} (must be 0)"),
        (off_script == 0, f"off-script replies: {off_script} (must be 0)"),
    ]
    ok = True
    for passed, text in checks:
        ok &= passed
        lines.append(f"{'PASS' if passed else 'FAIL'}  {text}")
    if other > 0.1:
        lines.append(
            f"NOTE  other processes used up to {other:.2f} cores during the runs: "
            "the machine was shared, numbers are pessimistic; run again when idle"
        )
    return ok, lines
