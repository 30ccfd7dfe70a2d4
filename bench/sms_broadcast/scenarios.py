"""The three scenarios, each on fresh workers: A, the product's batched send with no throttle;
B, the same broadcast as one RQ job per message; C, the batched send under a throttle."""

from __future__ import annotations

import bisect
import json
import logging
import selectors
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.shared.basics import ROOT, child_env
from bench.sms_broadcast.results import Result
from bench.sms_broadcast.stage import LES, TEMBOK, Stage, cpu_between
from common.settings import DEFAULTS
from storage import outbox

STALL_S = 30.0  # no message handed over for this long: give up waiting

log = logging.getLogger("bench.broadcast")


@dataclass
class Timeline:
    """(seconds since start, messages the provider accepted), polled every 0.1 s."""

    points: list[tuple[float, int]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def add(self, t: float, messages: int) -> None:
        self.points.append((t, messages))
        self.times.append(t)

    def at(self, t: float) -> int:
        index = bisect.bisect_right(self.times, t) - 1
        return self.points[index][1] if index >= 0 else 0

    def first(self) -> float | None:
        return next((t for t, m in self.points if m > 0), None)

    def per_second(self) -> list[int]:
        """Messages accepted in each whole second from the first one: where a run stalled."""
        first = self.first()
        if first is None:
            return []
        end = self.points[-1][0]
        return [self.at(first + n + 1) - self.at(first + n) for n in range(int(end - first) + 1)]

    def window_rates(self, width: float, step: float = 0.5) -> list[float]:
        """Rates over sliding windows of ``width`` s between the first and the last message."""
        moving = [t for t, m in self.points if m > 0]
        if not moving:
            return []
        first = moving[0]
        last = next(t for t, m in self.points if m == self.points[-1][1])
        rates = []
        start = first
        while start + width <= last:
            rates.append((self.at(start + width) - self.at(start)) / width)
            start += step
        return rates


def recipients_per_call(config: dict[str, Any]) -> int:
    """What the workers hand the provider at once: SMPP has a size of its own."""
    settings = {**DEFAULTS, **config}
    if settings["SMS_PROVIDER"] == "smpp":
        return int(settings["SMPP_RECIPIENTS_PER_CALL"])
    return int(settings["SMS_MAX_RECIPIENTS_PER_CALL"])


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class Scenarios:
    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.args = stage.args

    def scenario_name(self, rate: float) -> str:
        if rate:
            return f"C throttle {rate:g}/s"
        if self.args.provider == "smpp":  # the SMSC's throttling, not ours
            share = self.args.smpp_throttled
            return f"A SMPP, {share:.0%} THROTTLED" if share else "A SMPP, none throttled"
        return "A batched, no throttle"

    def batched(self) -> Result:
        return self.broadcast("A", TEMBOK, 0)

    def throttled(self) -> Result:
        return self.broadcast("C", LES, float(self.args.rate))

    # -- A and C: the product's batched send, without and with a throttle -----------------

    def broadcast(self, name: str, village: str, rate: float) -> Result:
        stage = self.stage
        config_path, config = stage.fresh(name.lower(), rate)
        assert stage.fake is not None
        try:
            stage.sampler.begin()
            cpu0 = stage.cpu()
            marks: list[dict[str, float]] = []
            planned, enqueued = self.run_planner(
                config_path,
                village,
                per_message=False,
                on_planned=lambda: marks.append(stage.cpu()),
            )
            cpu1 = marks[0]
            since = float(planned["enqueue_started"])
            expected = int(planned["planned"])
            timeline = Timeline()
            timeout = max(self.args.timeout, 3 * expected / rate) if rate else self.args.timeout
            per_call = recipients_per_call(config)
            stall = max(STALL_S, 3 * per_call / rate) if rate else STALL_S
            handover, recorded = self.follow(
                expected, since, timeout, int(planned["broadcast_id"]), timeline, stall
            )
            cpu, busy = cpu_between(cpu1, stage.cpu(), enqueued["cpu_enqueue_s"])
            plan_cpu = cpu_between(cpu0, cpu1, planned["cpu_plan_s"])[0]
            stats = stage.fake.stats()
            accepted = int(stats["messages"])
            elapsed = handover if handover is not None else time.time() - since
            peaks = stage.sampler.end()
            peaks["planner"] = max(peaks.get("planner", 0.0), float(enqueued["peak_rss_mb"]))
            windows = timeline.window_rates(self.args.rate_window) if rate else []
            note = (
                f"{enqueued['jobs']} jobs of <= {config.get('SMS_BATCH_SIZE', 500)}, "
                f"<= {per_call} per call"
            )
            if rate:
                note += f"; {accepted / elapsed / rate:.1%} of {rate:g}/s overall"
            if "max_in_flight" in stats:  # the SMSC's view (--provider smpp)
                note += (
                    f"; SMSC: {stats['calls']} submit_sm, at most {stats['max_in_flight']} in"
                    f" flight (SMPP_WINDOW {config['SMPP_WINDOW']}), at most"
                    f" {stats['max_per_second']} in any second"
                    f" (SMPP_RATE_PER_SECOND {config['SMPP_RATE_PER_SECOND']})"
                )

            return Result(
                scenario=self.scenario_name(rate),
                messages=expected,
                handed_over=accepted,
                plan_s=round(planned["plan_s"], 2),
                enqueue_s=round(enqueued["enqueue_s"], 2),
                handover_s=_round(handover),
                recorded_s=_round(recorded),
                rate=round(accepted / elapsed, 1),
                rate_windows=(round(min(windows), 1), round(max(windows), 1)) if windows else None,
                duplicates=int(stats["duplicates"]),
                provider_calls=int(stats["calls"]),
                jobs=int(enqueued["jobs"]),
                horses=stage.sampler.horses_seen(),
                statuses=self.statuses(int(planned["broadcast_id"])),
                peak_rss_mb=peaks,
                cpu_s=cpu,
                plan_cpu_s=plan_cpu,
                machine_busy=busy,
                note=note,
                smsc={k: int(v) for k, v in stats.items()} if "max_in_flight" in stats else {},
                first_s=_round(timeline.first()),
                per_second=timeline.per_second(),
            )
        finally:
            stage.finish()

    # -- B: one RQ job per message --------------------------------------------------------

    def per_message(self) -> Result:
        stage = self.stage
        config_path, _config = stage.fresh("b", 0)
        assert stage.fake is not None and stage.workers is not None
        try:
            stage.sampler.begin()
            cpu0 = stage.cpu()
            marks: list[dict[str, float]] = []
            planned, enqueued = self.run_planner(
                config_path, TEMBOK, per_message=True, on_planned=lambda: marks.append(stage.cpu())
            )
            cpu1 = marks[0]
            started, done = float(planned["enqueue_started"]), float(enqueued["enqueued_at"])
            before = int(stage.fake.stats()["messages"])
            window_start = time.time()
            while time.time() < window_start + self.args.window:
                stage.workers.check_alive()
                time.sleep(0.2)
            stats = stage.fake.stats()
            window = time.time() - window_start
            after = int(stats["messages"])
            cpu, busy = cpu_between(cpu1, stage.cpu(), enqueued["cpu_enqueue_s"])
            plan_cpu = cpu_between(cpu0, cpu1, planned["cpu_plan_s"])[0]
            expected = int(planned["planned"])
            rate = (after - before) / window
            projected = (
                (window_start - started)
                + window
                + (max(0, expected - after) / rate if rate else float("inf"))
            )
            peaks = stage.sampler.end()
            peaks["planner"] = max(peaks.get("planner", 0.0), float(enqueued["peak_rss_mb"]))
            return Result(
                scenario="B one RQ job per message",
                messages=expected,
                handed_over=after,
                plan_s=round(planned["plan_s"], 2),
                enqueue_s=round(done - started, 2),
                handover_s=None,
                recorded_s=None,
                rate=round(rate, 1),
                projected_s=round(projected, 1),
                duplicates=int(stats["duplicates"]),
                provider_calls=int(stats["calls"]),
                jobs=int(enqueued["jobs"]),
                horses=stage.sampler.horses_seen(),
                statuses=self.statuses(int(planned["broadcast_id"])),
                peak_rss_mb=peaks,
                cpu_s=cpu,
                plan_cpu_s=plan_cpu,
                machine_busy=busy,
                note=f"rate over {window:.0f} s once all were enqueued ({before} handed over "
                f"while enqueueing); {after} of {expected} handed over in all",
            )
        finally:
            stage.finish()

    # -- what every scenario does ---------------------------------------------------------

    def run_planner(
        self, config_path: Path, village: str, per_message: bool, on_planned: Callable[[], None]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Run ``bench/sms_broadcast/planner.py``; its two reports, "planned" and "enqueued".
        ``on_planned`` is called as soon as the first arrives."""
        stage = self.stage
        command = [sys.executable, "-m", "bench.sms_broadcast.planner", "--village", village]
        command += ["--per-message"] if per_message else []
        with (stage.tmp / f"{config_path.stem}-planner.log").open("wb") as log_file:
            process = subprocess.Popen(
                command,
                env=child_env(GATEWAY_CONFIG=str(config_path)),
                stdout=subprocess.PIPE,
                stderr=log_file,
                cwd=ROOT,
                start_new_session=True,
            )
            stage.sampler.watch(process.pid, "planner")
            assert process.stdout is not None
            try:
                selector = selectors.DefaultSelector()
                selector.register(process.stdout, selectors.EVENT_READ)
                reports = []
                for _ in range(2):
                    if not selector.select(timeout=self.args.timeout):
                        raise RuntimeError("the planner did not report in time")
                    line = process.stdout.readline()
                    if not line:
                        raise RuntimeError(f"the planner failed; see {log_file.name}")
                    stage.sampler.sample()  # its peak, before it exits
                    reports.append(dict(json.loads(line)))
                    if len(reports) == 1:
                        on_planned()
                process.wait(timeout=30)
                return reports[0], reports[1]
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                process.stdout.close()
                stage.sampler.forget(process.pid)

    def statuses(self, broadcast_id: int) -> dict[str, int]:
        assert self.stage.db is not None
        with self.stage.db.begin() as session:
            return outbox.counts_by_status(session, broadcast_id)

    def follow(
        self,
        expected: int,
        since: float,
        timeout: float,
        broadcast_id: int,
        timeline: Timeline,
        stall: float = STALL_S,
    ) -> tuple[float | None, float | None]:
        """Poll the fake (0.1 s) and the database (1 s) until every message is handed over
        and recorded 'sent'; (hand-over s, recorded s) since ``since`` (epoch), None if not."""
        fake, workers = self.stage.fake, self.stage.workers
        assert fake is not None and workers is not None
        handover = recorded = None
        last_db = 0.0
        progress = (0, time.time())  # (messages, when that count was first seen)
        while time.time() < since + timeout:
            now = time.time()
            messages = int(fake.stats()["messages"])
            timeline.add(now - since, messages)
            if messages != progress[0]:
                progress = (messages, now)
            elif handover is None and now - progress[1] > stall:
                log.warning(
                    "no message handed over for %.0f s (%d of %d); was the Redis "
                    "database flushed by someone else?",
                    stall,
                    messages,
                    expected,
                )
                break
            if handover is None and messages >= expected:
                handover = now - since
            if handover is not None or now - last_db >= 1.0:
                last_db = now
                counts = self.statuses(broadcast_id)
                if counts.get("sent", 0) + counts.get("delivered", 0) >= expected:
                    recorded = time.time() - since
                    break
                if not counts.get("queued") and not counts.get("sending"):
                    break  # nothing left to move: some failed or were cancelled
            workers.check_alive()
            time.sleep(0.1)
        return handover, recorded
