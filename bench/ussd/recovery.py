"""The recovery run: Redis stopped and started again under a fixed load on the gateway, and how
long the gateway takes to answer normally once Redis answers. The gateway is never restarted."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.shared.basics import say
from bench.ussd.generators import open_loop_command, read_open_loop
from bench.ussd.servers import Server
from tests.live_servers import RedisServer


@dataclass
class Recovery:
    """A Redis restart under a fixed load: how long the gateway took to answer normally."""

    rate: float
    outage_s: float
    seconds: float | None  # from Redis answering to 99 % normal hops; None: never in the run
    failed_during: int  # hops sent while Redis was down that got the failure reply or worse
    hops_during: int
    slowest_during_ms: float  # (the p99 of the whole run, which the outage dominates)


def measure_recovery(
    full: Server, own_redis: RedisServer, *, rate: float, outage: float, plan: Path, tmp: Path
) -> Recovery:
    """The fixed-rate generator against the gateway; after 3 s Redis is stopped, after
    ``outage`` more seconds started again. Recovery: from the moment Redis answers a PING
    to the start of the first second-long window after which every second-long window
    (in steps of 0.1 s) has at least 99 % normal hops -- a CON/END that is not the failure
    reply."""
    before, after = 3.0, 6.0
    duration = before + outage + after
    cmd, out = open_loop_command(
        full,
        rate=rate,
        duration=duration,
        plan=plan,
        tmp=tmp,
        skip=99,
        check="prefix",
        tag="recovery",
    )
    say(
        f"recovery: {rate:,.0f} hops/s on the gateway; Redis stopped for "
        f"{outage:g} s, then started again ..."
    )
    generator = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(before)
    down_at = time.time()
    own_redis.stop()
    time.sleep(outage)
    own_redis.start()  # returns once Redis answers a PING
    back_at = time.time()
    _, stderr = generator.communicate(timeout=duration + 60)
    data = read_open_loop(out, generator.returncode, stderr)
    timeline = {int(tenth): counts for tenth, counts in data["timeline"].items()}
    during = [c for t, c in timeline.items() if down_at * 10 <= t < back_at * 10]
    result = Recovery(
        rate=rate,
        outage_s=back_at - down_at,
        seconds=recovery_seconds(timeline, back_at),
        failed_during=sum(c[1] for c in during),
        hops_during=sum(c[0] + c[1] for c in during),
        slowest_during_ms=data["latency_us"]["max"] / 1000,
    )
    shown = "never, within the run" if result.seconds is None else f"{result.seconds:.1f} s"
    say(
        f"  Redis down {result.outage_s:.1f} s: {result.failed_during:,} of "
        f"{result.hops_during:,} hops answered with the failure reply meanwhile; normal "
        f"again after {shown}"
    )
    return result


def recovery_seconds(timeline: dict[int, list[int]], back_at: float) -> float | None:
    """See ``measure_recovery``. ``timeline``: tenth of a second -> [normal, not normal]."""
    first, last = int(back_at * 10), max(timeline)
    windows = []
    for start in range(first, last - 9):
        counts = [timeline.get(t, [0, 0]) for t in range(start, start + 10)]
        normal, total = sum(c[0] for c in counts), sum(c[0] + c[1] for c in counts)
        windows.append((start, total == 0 or normal >= 0.99 * total))
    settled = None
    for start, good in windows:
        if not good:
            settled = None
        elif settled is None:
            settled = start
    return None if settled is None else max(0.0, settled / 10 - back_at)
