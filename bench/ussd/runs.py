"""One load generator's run against one server: the result both generators write (wrk with
``bench/ussd_load.lua`` and ``bench/open_loop.py``, one format), read back as a ``Run``, and
the latency histograms they keep."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.shared.cpu import CpuUse

# What each generator thread counts, under these names.
COUNTERS = (
    "hops",
    "journeys",
    "resumed",
    "bad_status",
    "bad_body",
    "app_failures",
    "off_script",
    "lost",
)


@dataclass
class Run:
    """One load-generator run against one server."""

    server: str
    mode: str  # warmup | max | rate | probe
    target_rate: float
    duration_s: float
    counters: dict[str, int]
    errors: dict[str, int]
    hist: dict[int, int]  # latency from send to reply, µs bucket -> count
    hist_sched: dict[int, int]  # rate mode: from the time the hop was due to the reply
    hist_late: dict[int, int]  # rate mode: how late the generator sent hops
    per_hop: dict[str, list[float]]  # "journey#hop" -> [count, sum µs, max µs]
    samples: list[str]
    cpu: CpuUse
    missed: int = 0  # rate mode: due hops without an idle caller (must stay 0)

    @property
    def hops_per_s(self) -> float:
        return self.counters["hops"] / self.duration_s if self.duration_s else 0.0


def parse_result(server: str, mode: str, rate: float, data: dict[str, Any], cpu: CpuUse) -> Run:
    """The JSON that ussd_load.lua and open_loop.py write, as a Run."""
    counters = {name: sum(int(t[name]) for t in data["threads"]) for name in COUNTERS}
    errors = {
        "non-200": counters["bad_status"],
        "not CON/END": counters["bad_body"],
        "failure reply": counters["app_failures"],
    }
    errors.update({f"socket {k}": int(v) for k, v in data["errors"].items() if k != "status"})
    run = Run(
        server=server,
        mode=mode,
        target_rate=rate,
        duration_s=data["duration_us"] / 1e6,
        counters=counters,
        errors={k: v for k, v in errors.items() if v},
        hist={},
        hist_sched={},
        hist_late={int(k): v for k, v in data.get("hist_late", {}).items()},
        per_hop={},
        samples=[],
        cpu=cpu,
        missed=int(data.get("missed", 0)),
    )
    for t in data["threads"]:
        merge(run.hist, {int(k): v for k, v in t["hist"].items()})
        merge(run.hist_sched, {int(k): v for k, v in t.get("hist_sched", {}).items()})
        merge_per_hop(run.per_hop, t["per_hop"])
        run.samples += t["samples"]
    return run


def bucket(us: float) -> int:
    """The histogram bucket of a latency in µs (10 µs wide below 10 ms, 100 µs below 100 ms,
    1 ms above), as in ussd_load.lua."""
    if us < 10_000:
        return int(us // 10 * 10)
    if us < 100_000:
        return int(us // 100 * 100)
    return int(us // 1000 * 1000)


def merge(into: dict[Any, int], more: dict[Any, int]) -> None:
    for key, n in more.items():
        into[key] = into.get(key, 0) + n


def merge_per_hop(into: dict[str, list[float]], more: dict[str, list[float]]) -> None:
    for key, (n, total, top) in more.items():
        agg = into.setdefault(key, [0, 0.0, 0.0])
        agg[0] += n
        agg[1] += total
        agg[2] = max(agg[2], top)


def percentile_us(hist: dict[int, int], q: float) -> int | None:
    """The q-th percentile (0-100) of a {µs bucket: count} histogram, None if it is empty."""
    total = sum(hist.values())
    if not total:
        return None
    seen = 0
    for b in sorted(hist):
        seen += hist[b]
        if seen >= q / 100 * total:
            return b
    return max(hist)


def percentile(hist: dict[int, int], q: float) -> float:
    """The q-th percentile (0-100), in ms, of a {µs bucket: count} histogram."""
    us = percentile_us(hist, q)
    return float("nan") if us is None else us / 1000
