"""Who used the CPU during a measurement, and the wait for other work to leave the machine
alone before one: on a shared machine another job's CPU would be taken from the servers."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.shared.procfs import CLK_TCK, machine_ticks, process_table


@dataclass
class CpuUse:
    """Average cores used during a run, by whom. ``other`` is any process that is not part of
    the benchmark: if it is not ~0, another job shared the machine and the numbers are low."""

    machine: float = 0.0
    gen: float = 0.0  # this script's reaped children: the load generator (wrk, open_loop.py)
    app: float = 0.0  # the benchmark's own servers and their children
    db: float = 0.0  # PostgreSQL and Redis
    other: float = 0.0
    other_names: list[str] = field(default_factory=list)


class CpuMeter:
    """CPU per process between ``start()`` and ``stop()``, sorted into ``CpuUse``;
    ``server_pids``: the benchmark's servers (they and their children count as ``app``)."""

    def __init__(self, server_pids: set[int]) -> None:
        self.server_pids = server_pids
        self.start()

    def start(self) -> None:
        self.snap = process_table()
        self.machine = machine_ticks()
        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.wall = time.monotonic()

    def stop(self) -> CpuUse:
        snap, machine = process_table(), machine_ticks()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = max(time.monotonic() - self.wall, 1e-3)
        cpus = os.cpu_count() or 1
        use = CpuUse(
            machine=(machine[0] - self.machine[0]) / max(machine[1] - self.machine[1], 1) * cpus,
            gen=(
                children.ru_utime
                + children.ru_stime
                - self.children.ru_utime
                - self.children.ru_stime
            )
            / wall,
        )
        me = os.getpid()
        for pid, (name, ppid, ticks) in snap.items():
            used = (ticks - self.snap.get(pid, (name, ppid, 0))[2]) / CLK_TCK / wall
            if pid in self.server_pids or ppid in self.server_pids:
                use.app += used
            elif name.startswith(("postgres", "redis-server")):
                use.db += used
            elif pid == me or ppid == me or pid == 2 or ppid == 2:
                continue  # this script and its load generator (counted when reaped), kernel
            elif used > 0.02:
                use.other += used
                use.other_names.append(f"{name}[{pid}] {used:.2f}")
        return use


def wait_for_idle(max_wait: float, server_pids: set[int], say: Callable[[str], None]) -> float:
    """Before a measurement: wait, half a second at a time, while processes that are not the
    benchmark's (a test suite, a build) use 0.15 cores or more, at most ``max_wait`` seconds.
    Returns the seconds waited (a benchmark with a budget for the whole run subtracts them)."""
    meter = CpuMeter(server_pids)
    waited = 0.0
    while True:
        time.sleep(0.5)
        use = meter.stop()
        if use.other < 0.15:
            return waited
        if waited >= max_wait:
            say(f"(busy machine: {', '.join(use.other_names[:3])}; not waiting any longer)")
            return waited
        if waited == 0:
            say(f"waiting for the machine to be idle: {', '.join(use.other_names[:3])}")
        waited += 0.5
        meter.start()
