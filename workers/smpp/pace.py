"""How fast the bind submits: SMPP_RATE_PER_SECOND, as the SMSC counts it.

An SMSC (or the aggregator's contract) allows so many submit_sm a second and answers
ESME_RTHROTTLED above it. The SMSC counts arrivals, which the network and its own reading shift
by a few milliseconds, bunching some together; so the bind aims a little under the rate
(HEADROOM) and two rules together keep it there:

- **evenly spaced**: each submit has a slot 1 / (rate * HEADROOM) after the previous slot. The
  next slot follows the schedule, not the moment the last submit actually went, so a sleep
  that overran (they all do, by a little) is made up by the following submits instead of
  being lost; a lag longer than CATCH_UP is not made up, so an idle bind does not start
  with a burst;
- **a hard cap**: never more than ``rate`` submits in any window of WINDOW seconds, counted
  from the real send times, so making up for an overrun can never exceed the limit.

Time and sleep are passed in, so the tests use a fake clock.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

HEADROOM = 0.95  # the share of the rate aimed at (HEADROOM * WINDOW < 1: the cap only catches up)
CATCH_UP = 0.1  # seconds of lateness made up by sending sooner (the window still holds)
WINDOW = 1.03  # seconds in which at most `rate` submits go


class SubmitPace:
    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1 / (rate * HEADROOM) if rate > 0 else 0.0  # 0: no limit
        self.cap = max(1, math.floor(rate)) if rate > 0 else 0
        self.clock = clock
        self.sleep = sleep
        self._slot = 0.0
        self._sent: deque[float] = deque()

    def wait(self, not_before: float = 0.0) -> float:
        """Block until the next submit may go (and not before ``not_before``, a pause the
        SMSC asked for); the seconds it waited. Call ``sent()`` once it has gone."""
        now = self.clock()
        if not self.interval:
            if not_before > now:
                self.sleep(not_before - now)
            return max(0.0, not_before - now)
        # Behind by a little (an overrun sleep, a thread held up): made up. Behind by more
        # (idle, or held up long): the schedule starts again now, without a burst.
        slot = self._slot if now - self._slot <= CATCH_UP else now
        go = max(slot, not_before)
        if len(self._sent) >= self.cap:
            go = max(go, self._sent[0] + WINDOW)
        if go > now:
            self.sleep(go - now)
        # A pause or the cap moved this submit later: the schedule starts again from it.
        self._slot = (slot if go <= slot else go) + self.interval
        return max(0.0, go - now)

    def sent(self) -> None:
        """A submit went: counted from now, after the write, not from when ``wait`` let it
        go (a thread can be held up in between, and then the cap would count it early)."""
        if self.cap:
            self._sent.append(self.clock())
            if len(self._sent) > self.cap:
                self._sent.popleft()
