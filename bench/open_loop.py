"""Fixed-rate (open-loop) USSD callers: the fixed-rate runs of ``bench/ussd_load.py``.

Why not wrk here: gunicorn's sync workers close the connection after every reply, and wrk
reconnects at once and only then waits out its ``delay()``. A sync worker accepts that idle
connection and blocks reading it until the request comes, so with paced wrk connections the
workers spend their time waiting for the load generator, and the latency measured is wrk's own
pacing (docs/benchmarks.md, "Method"). Africa's Talking, like this generator, connects when it
has a hop to send.

So: hops are due at Poisson arrival times (``--rate`` per second on average); at each due time
a caller sends its next hop on a new connection, whether or not earlier hops are still in
flight: the caller in a session that has waited longest since its reply, or else (all sessions
are waiting for replies) the next caller of the pool, starting a journey. Few sessions are thus
open at a time and each plays its whole journey, so the hops measured are whole journeys' hops
in the planned mix. Latency is taken from the moment the hop was sent and from the moment it
was due (so it includes any lateness of this generator, which is reported too). Callers,
journeys and checks are those of ``bench/ussd_load.lua`` (same plan files, same result format),
so the two generators report alike.

Usage: ``python bench/open_loop.py --plan DIR --port N --rate 1000 --duration 15 --out F``.
"""

from __future__ import annotations

import argparse
import errno
import json
import random
import selectors
import socket
import sys
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the code next to this script

from bench.ussd.journeys import Journey
from bench.ussd.plan_files import read_plans
from bench.ussd.runs import COUNTERS, bucket, percentile_us


@dataclass
class CallerState:
    """Where a caller is in its planned journeys."""

    index: int
    phone: str  # url-encoded
    journeys: list[Journey]
    j: int = -1  # the journey being played
    n: int = 0  # journeys started
    sid: str | None = None  # None: between journeys
    text: str = ""  # every key so far, url-encoded, joined by "*"
    pos: int = 0
    hop: int = 0
    extra: int = 0  # 1 once a resume offer was answered: hops are labelled as planned
    resuming: bool = False
    label: str = ""
    next_key: str = ""


@dataclass
class Hop:
    """A hop in flight on its own non-blocking connection."""

    caller: CallerState
    due: float
    sent: float
    sock: socket.socket
    request: bytes
    data: bytes = b""


def reply_complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


class Generator:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        plans, self.markers = read_plans(args.plan)
        self.callers = [
            CallerState(i + 1, urllib.parse.quote_plus(phone), journeys, j=args.skip - 1)
            for i, (phone, journeys) in enumerate(plans)
        ]
        self.pool: deque[CallerState] = deque(self.callers)  # callers between journeys
        self.pool.rotate(-(args.skip * 97) % len(self.callers))  # each run, other callers first
        self.idle: deque[CallerState] = deque()  # callers in a journey, their last hop answered
        self.check_flow = args.check == "flow"
        self.tag = args.run
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.errors = dict.fromkeys(("connect", "read", "write", "status", "timeout"), 0)
        self.hist: dict[int, int] = {}
        self.hist_sched: dict[int, int] = {}
        self.hist_late: dict[int, int] = {}  # how late hops were sent after they were due
        self.per_hop: dict[str, list[float]] = {}
        self.samples: list[str] = []
        self.missed = 0  # due hops with no caller free to send them (should stay 0)
        # hops by the tenth of a second (wall clock) they were sent in: [normal, not normal],
        # where not normal is an error, a bad reply or the gateway's failure reply
        self.timeline: dict[int, list[int]] = {}
        self.wall_offset = time.time() - time.perf_counter()
        self.in_flight: dict[int, Hop] = {}  # by file descriptor
        self.selector = selectors.DefaultSelector()
        self.address = ("127.0.0.1", args.port)

    # -- one hop --------------------------------------------------------------------------

    def next_request(self, c: CallerState) -> bytes:
        if c.sid is None:
            c.j = (c.j + 1) % len(c.journeys)
            c.n += 1
            c.sid = f"ATUid_{self.tag}_py_{c.index}_{c.n}"
            c.text, c.pos, c.hop, c.extra = "", 0, 1, 0
        elif c.hop == 1:
            c.text, c.hop = urllib.parse.quote_plus(c.next_key), 2
        else:
            c.text, c.hop = f"{c.text}%2A{urllib.parse.quote_plus(c.next_key)}", c.hop + 1
        c.label, c.resuming = ("r" if c.resuming else str(c.hop - c.extra)), False
        body = (
            f"sessionId={c.sid}&serviceCode=%2A123%23&phoneNumber={c.phone}"
            f"&networkCode=51010&text={c.text}"
        )
        return (
            f"POST /ussd HTTP/1.1\r\nHost: 127.0.0.1:{self.args.port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        ).encode()

    def launch(self, due: float) -> None:
        """A hop is due: the next caller's hop, on a new connection (written once connected)."""
        if self.idle:
            c = self.idle.popleft()
        elif self.pool:
            c = self.pool.popleft()
        else:
            self.missed += 1
            return
        request = self.next_request(c)
        sent = time.perf_counter()
        late = bucket((sent - due) * 1e6)
        self.hist_late[late] = self.hist_late.get(late, 0) + 1
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        err = sock.connect_ex(self.address)
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            self.errors["connect"] += 1
            self.mark(sent, normal=False)
            return self.lost(c)
        hop = Hop(c, due, sent, sock, request)
        self.in_flight[sock.fileno()] = hop
        self.selector.register(sock, selectors.EVENT_WRITE, hop)
        return None

    def on_event(self, hop: Hop, events: int) -> None:
        sock = hop.sock
        if events & selectors.EVENT_WRITE:
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self.errors["connect"] += 1
                return self.drop(hop)
            try:
                sock.send(hop.request)  # a few hundred bytes: one segment on a fresh socket
            except OSError:
                self.errors["write"] += 1
                return self.drop(hop)
            self.selector.modify(sock, selectors.EVENT_READ, hop)
            return None
        try:
            chunk = sock.recv(65536)
        except OSError:
            self.errors["read"] += 1
            return self.drop(hop)
        hop.data += chunk
        if chunk and not reply_complete(hop.data):
            return None
        now = time.perf_counter()
        self.close(hop)  # at once: gunicorn's sync worker lingers until the client has closed
        head, _, payload = hop.data.partition(b"\r\n\r\n")
        try:
            status = int(head.split(b" ", 2)[1])
        except (IndexError, ValueError):
            self.errors["read"] += 1
            self.mark(hop.sent, normal=False)
            return self.lost(hop.caller)
        self.mark(
            hop.sent,
            normal=status == 200
            and payload[:4] in (b"CON ", b"END ")
            and payload.decode("utf-8", "replace") != self.markers.failure,
        )
        self.reply(
            hop.caller,
            status,
            payload.decode("utf-8", "replace"),
            (now - hop.sent) * 1e6,
            (now - min(hop.due, hop.sent)) * 1e6,
        )
        self.release(hop.caller)
        return None

    def release(self, c: CallerState) -> None:
        """Back to the waiting sessions, or to the pool once its journey is over."""
        (self.pool if c.sid is None else self.idle).append(c)

    def close(self, hop: Hop) -> None:
        del self.in_flight[hop.sock.fileno()]
        self.selector.unregister(hop.sock)
        hop.sock.close()

    def mark(self, sent: float, normal: bool) -> None:
        tenth = int((self.wall_offset + sent) * 10)
        counts = self.timeline.setdefault(tenth, [0, 0])
        counts[0 if normal else 1] += 1

    def drop(self, hop: Hop) -> None:
        self.mark(hop.sent, normal=False)
        self.close(hop)
        self.lost(hop.caller)
        self.release(hop.caller)

    def lost(self, c: CallerState) -> None:
        self.counters["lost"] += 1
        self.finish(c)

    def finish(self, c: CallerState) -> None:
        c.sid = None

    def off(self, c: CallerState, body: str, why: str) -> None:
        self.counters["off_script"] += 1
        if len(self.samples) < 5:
            self.samples.append(
                f"{why}: journey {c.journeys[c.j].name}, text "
                f"{urllib.parse.unquote_plus(c.text)!r} -> {body[:120]!r}"
            )
        self.finish(c)

    def reply(self, c: CallerState, status: int, body: str, us: float, sched_us: float) -> None:
        """The same checks and journey steps as response() in ussd_load.lua."""
        jr = c.journeys[c.j]
        self.counters["hops"] += 1
        for hist, value in ((self.hist, us), (self.hist_sched, sched_us)):
            b = bucket(value)
            hist[b] = hist.get(b, 0) + 1
        agg = self.per_hop.setdefault(f"{jr.name}#{c.label}", [0, 0.0, 0.0])
        agg[0] += 1
        agg[1] += us
        agg[2] = max(agg[2], us)
        if status != 200:
            self.counters["bad_status"] += 1
            self.errors["status"] += status > 399
            return self.finish(c)
        kind = body[:4]
        if kind not in ("CON ", "END "):
            self.counters["bad_body"] += 1
            return self.finish(c)
        if self.check_flow:
            if body == self.markers.failure:
                self.counters["app_failures"] += 1
                return self.off(c, body, "app failure")
            if any(m in body for m in self.markers.errors):
                return self.off(c, body, "error line")
            if c.hop == 1 and any(m in body for m in self.markers.resume):
                self.counters["resumed"] += 1
                c.next_key = "2"  # start again
                c.extra, c.resuming = 1, True
                return None
        if c.pos < len(jr.keys):
            if self.check_flow and kind == "END ":
                return self.off(c, body, "ended early")
            c.next_key = jr.keys[c.pos]
            c.pos += 1
            return None
        if self.check_flow and kind != jr.final + " ":
            return self.off(c, body, "wrong last screen")
        self.counters["journeys"] += 1
        return self.finish(c)

    # -- the schedule ---------------------------------------------------------------------

    def run(self) -> float:
        """Launch hops at their due times until the duration is over, then let the last
        ones finish (5 s at most). Returns the seconds during which hops were launched."""
        rng = random.Random(self.args.seed)
        rate = self.args.rate
        start = time.perf_counter()
        end = start + self.args.duration
        due = start + rng.expovariate(rate)
        next_timeout_check = start + 0.1
        while True:
            now = time.perf_counter()
            while due <= now and due < end:
                self.launch(due)
                due += rng.expovariate(rate)
            if now >= end and (not self.in_flight or now >= end + 5):
                break
            if now >= next_timeout_check:
                next_timeout_check = now + 0.1
                for hop in [h for h in self.in_flight.values() if now - h.sent > 5]:
                    self.errors["timeout"] += 1
                    self.drop(hop)
            wait = min(due, end) - now if now < end else 0.01
            for key, events in self.selector.select(max(wait, 0)):
                self.on_event(key.data, events)
        for hop in list(self.in_flight.values()):
            self.errors["timeout"] += 1
            self.drop(hop)
        return min(time.perf_counter(), end) - start

    def result(self, elapsed: float) -> dict[str, Any]:
        total = sum(self.hist.values())

        def pct(q: float) -> int:
            return percentile_us(self.hist, q) or 0

        mean = sum(b * n for b, n in self.hist.items()) / total if total else 0.0
        per_hop = {k: [v[0], round(v[1]), round(v[2])] for k, v in self.per_hop.items()}
        return {
            "duration_us": int(elapsed * 1e6),
            "requests": self.counters["hops"],
            "bytes": 0,
            "errors": self.errors,
            "missed": self.missed,
            "latency_us": {
                "mean": mean,
                "p50": pct(50),
                "p90": pct(90),
                "p99": pct(99),
                "p999": pct(99.9),
                "max": max(self.hist, default=0),
            },
            "hist_late": self.hist_late,
            "timeline": self.timeline,
            "threads": [
                {
                    **self.counters,
                    "hist": self.hist,
                    "hist_sched": self.hist_sched,
                    "per_hop": per_hop,
                    "samples": self.samples,
                }
            ],
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--plan", type=Path, required=True, help="folder of plan-*.txt, markers.txt")
    p.add_argument("--port", type=int, required=True, help="server port on 127.0.0.1")
    p.add_argument("--rate", type=float, default=1000.0, help="hops per second [1000]")
    p.add_argument("--duration", type=float, default=10.0, help="seconds [10]")
    p.add_argument("--check", choices=("flow", "prefix"), default="flow")
    p.add_argument("--skip", type=int, default=0, help="journeys each caller skips first")
    p.add_argument("--run", default="rate", help="tag that keeps session ids unique")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, required=True, help="where to write the JSON result")
    args = p.parse_args()
    gen = Generator(args)
    elapsed = gen.run()
    args.out.write_text(json.dumps(gen.result(elapsed)))


if __name__ == "__main__":
    main()
