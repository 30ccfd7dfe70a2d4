"""Peak memory (RSS) of every process of a broadcast, by role, sampled from /proc."""

from __future__ import annotations

import threading

from bench.shared.procfs import descendants, memory, reset_peak_rss, stat_fields

MB = 1024 * 1024


class RssSampler(threading.Thread):
    """Peak RSS by role, every ``interval`` seconds: the planner process, the fake,
    each worker's main process and its children — work horses (RQ forks one per job, each in a
    process group of its own) and the scheduler process. A horse may live well under a second,
    so its VmHWM (peak so far) is read, not only its current RSS."""

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.interval = interval
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self.roots: dict[int, str] = {}  # pid -> role ("planner", "fake", "worker")
        self.peaks: dict[str, int] = {}
        self.pids: dict[str, set[int]] = {}

    def watch(self, pid: int, role: str) -> None:
        with self._lock:
            self.roots[pid] = role

    def forget(self, pid: int) -> None:
        with self._lock:
            self.roots.pop(pid, None)

    def begin(self) -> None:
        """Start a scenario's peaks afresh."""
        with self._lock:
            for pid, role in self.roots.items():
                if role != "worker":
                    reset_peak_rss(pid)
            self.peaks, self.pids = {}, {}

    def end(self) -> dict[str, float]:
        self.sample()
        with self._lock:
            return {role: round(peak / MB, 1) for role, peak in sorted(self.peaks.items())}

    def horses_seen(self) -> int:
        with self._lock:
            return len(self.pids.get("horse", ()))

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        with self._lock:
            roots = dict(self.roots)
        seen: list[tuple[str, int, int]] = []
        for pid, role in roots.items():
            seen.append((role, pid, max(memory(pid).values(), default=0)))
            if role != "worker":
                continue
            for child in descendants(pid):
                fields = stat_fields(child)
                if not fields:
                    continue
                kind = "horse" if int(fields[2]) == child else "scheduler"  # pgrp == pid
                seen.append((kind, child, max(memory(child).values(), default=0)))
        with self._lock:
            for role, pid, rss in seen:
                if rss:
                    self.peaks[role] = max(self.peaks.get(role, 0), rss)
                    self.pids.setdefault(role, set()).add(pid)
