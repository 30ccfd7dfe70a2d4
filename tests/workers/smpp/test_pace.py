"""The bind's pace (workers/smpp/pace.py) on a fake clock: evenly spaced a little under the
rate, overrun sleeps made up, never more than the rate in any window, no burst after idle."""

from __future__ import annotations

import itertools
import random

import pytest

from workers.smpp.pace import HEADROOM, WINDOW, SubmitPace


class Clock:
    """Time that moves only by sleeping, each sleep overrunning by ``overrun()`` seconds."""

    def __init__(self, overrun: float = 0.0, seed: int | None = None) -> None:
        self.now = 1000.0
        self.fixed = overrun
        self.random = random.Random(seed) if seed is not None else None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        extra = self.random.uniform(0, 0.004) if self.random else self.fixed
        self.now += seconds + extra


def submit(pace: SubmitPace, clock: Clock, n: int, work: float = 0.0) -> list[float]:
    """n submits back to back, each taking ``work`` seconds after its wait; their send times."""
    times = []
    for _ in range(n):
        pace.wait()
        clock.now += work
        pace.sent()
        times.append(clock.now)
    return times


def test_evenly_spaced_a_little_under_the_rate() -> None:
    clock = Clock()
    pace = SubmitPace(1000, clock=clock, sleep=clock.sleep)
    times = submit(pace, clock, 2001)
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(times)}
    assert gaps == {round(1 / (1000 * HEADROOM), 9)}
    assert (len(times) - 1) / (times[-1] - times[0]) == pytest.approx(1000 * HEADROOM)


def test_an_overrun_sleep_is_made_up_by_the_next_submits() -> None:
    """Every sleep overruns by a third of the interval: the schedule holds, not the overruns."""
    interval = 1 / (1000 * HEADROOM)
    clock = Clock(overrun=interval / 3)
    pace = SubmitPace(1000, clock=clock, sleep=clock.sleep)
    times = submit(pace, clock, 3000)
    assert (len(times) - 1) / (times[-1] - times[0]) == pytest.approx(1000 * HEADROOM, rel=0.01)


def test_never_more_than_the_rate_in_any_window_whatever_the_sleeps_do() -> None:
    clock = Clock(seed=14)
    pace = SubmitPace(1000, clock=clock, sleep=clock.sleep)
    times: list[float] = []
    for n in range(20):
        times += submit(pace, clock, 500)
        clock.now += 0.05 if n % 3 else 0.0  # the submitter held up now and then: made up
    start = 0
    for end, t in enumerate(times):
        while times[start] <= t - WINDOW:
            start += 1
        assert end - start + 1 <= 1000
    assert (len(times) - 1) / (times[-1] - times[0]) > 0.9 * 1000


def test_after_idling_the_bind_does_not_burst() -> None:
    clock = Clock()
    pace = SubmitPace(100, clock=clock, sleep=clock.sleep)
    submit(pace, clock, 10)
    clock.now += 60  # nothing to send for a minute
    times = submit(pace, clock, 5)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == pytest.approx([1 / (100 * HEADROOM)] * 4)


def test_a_pause_the_smsc_asked_for_is_kept_and_the_schedule_starts_after_it() -> None:
    clock = Clock()
    pace = SubmitPace(1000, clock=clock, sleep=clock.sleep)
    submit(pace, clock, 5)
    until = clock.now + 0.2
    waited = pace.wait(not_before=until)
    pace.sent()
    assert clock.now == pytest.approx(until) and waited == pytest.approx(0.2)
    pace.wait()
    assert clock.now == pytest.approx(until + 1 / (1000 * HEADROOM))


def test_no_rate_means_no_waiting_but_a_pause() -> None:
    clock = Clock()
    pace = SubmitPace(0, clock=clock, sleep=clock.sleep)
    assert submit(pace, clock, 100) == [1000.0] * 100
    assert pace.wait(not_before=clock.now + 1) == pytest.approx(1)
