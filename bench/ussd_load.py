"""USSD load benchmark: whole caller journeys against the gateway under gunicorn, compared with
a bare Flask endpoint served by the very same gunicorn configuration.

Why: a USSD hop has a hard latency budget (the operator drops a session that answers slowly),
and the gateway's design promise is that a hop costs about one session-store round trip, with
the database touched only by the screens that need it. This measures that promise as a ratio
to the cheapest possible Flask reply on the same machine, so the number means something on any
hardware. Targets (issues 2 and 15): full-journey throughput >= 0.35x bare Flask and >= 0.70x
a reference handler doing one Redis GET and SET, p99 < 30 ms at 1,000 hops/s, and normal hops
again within 3 s of Redis answering after a restart under load.

What it does, start to end (two to three minutes; cleans up after itself, also on Ctrl-C):
1. a fresh PostgreSQL schema ``bench_<random>`` in database ``test`` and a ``redis-server`` of
   its own on a free port, filled through the operator CLI (db upgrade, regions import, demo) and
   ``storage.queries`` (a few thousand returning callers with requests, village visits);
2. gunicorn twice with the same settings: the bare app (``bench/bare_app.py``) and the gateway
   (``gateway:create_app()`` on PostgreSQL + Redis) and, unless ``--no-floor``, a third: the
   issue's reference handler (``bench/floor_app.py``: one Redis GET and SET per request);
3. a warm-up of each, in which every caller plays one journey (profiles get cached); then, in
   rounds that alternate the two servers, max throughput (wrk, ``bench/ussd_load.lua``: closed
   loop, one caller per connection) and a fixed rate of 1,000 hops/s (``bench/open_loop.py``:
   Poisson arrivals, a new connection per hop); last, a light load (200 hops/s) on the gateway
   alone, whose latency by journey and hop is service time rather than queueing; last, Redis is
   stopped for 5 s under 500 hops/s and started again (``--outage``), and the time until the
   gateway answers normally again is measured;
4. a table of hops/s, p50, p99 and errors, the full/bare ratio, PASS/FAIL against the targets,
   and a JSON copy in ``bench/results/``.

Usage: ``.venv/bin/python bench/ussd_load.py [--quick] [--duration S] [--callers N] ...``
(``make bench``). Needs wrk: ``apt-get install -y wrk``. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA_SCRIPT = BENCH / "ussd_load.lua"
OPEN_LOOP = BENCH / "open_loop.py"
RESULTS = BENCH / "results"
BIN = Path(sys.executable).parent  # the venv's bin: flask, gunicorn

PG_BASE = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

sys.path.insert(0, str(ROOT))
from tests.live_servers import RedisServer  # noqa: E402  (the fault tests' own redis-server)

TARGET_RATIO = 0.35  # full journeys / bare Flask
TARGET_FLOOR_RATIO = 0.70  # full journeys / the one-Redis-round-trip reference (--floor)
TARGET_P99_MS = 30.0
TARGET_RECOVERY_S = 3.0  # from Redis answering again to 99 % normal hops

# Journey mix, in journeys (not hops). Status checks dominate a civil registry's traffic.
MIX = {
    "status_own": 30,  # 1 -> pick one of my requests -> detail
    "status_other": 10,  # 1 -> (9) -> another phone's request number -> its birth year
    "next_visit": 25,  # 3 -> remind me (or: other village -> district -> village -> remind me)
    "home_visit": 10,  # 2 -> who -> why -> what -> hamlet -> send (again: "already booked")
    "priority": 15,  # 4 -> checklist -> document -> send SMS (or hang up after reading)
    "language": 10,  # 5 -> Indonesian / English
}
JOURNEYS_PER_CALLER = 16  # each caller cycles through its own planned journeys
HAMLETS = ("Kaja", "Kelod", "Banjar Dinas Kauh", "Dauh Pura", "Tengah")


# --- options ----------------------------------------------------------------------------------


@dataclass
class Options:
    duration: float
    callers: int
    workers: int
    rate: float
    connections: int
    rounds: int
    probe_rate: float
    idle_wait: float
    quick: bool
    seed: int
    keep: bool
    results: Path | None
    app: str
    floor: bool
    outage: float
    recovery_rate: float


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(
        description="USSD load benchmark: full journeys vs. a bare Flask endpoint under "
        "gunicorn (PostgreSQL + Redis on 127.0.0.1)."
    )
    p.add_argument(
        "--duration",
        type=float,
        default=15.0,
        help="measured seconds per server and mode (max throughput, fixed rate), "
        "split into --rounds [15]",
    )
    p.add_argument(
        "--callers",
        type=int,
        default=3000,
        help="returning callers (distinct phones) in the pool [3000]",
    )
    p.add_argument("--workers", type=int, default=3, help="gunicorn sync workers [3]")
    p.add_argument("--rate", type=float, default=1000.0, help="hops/s of the fixed-rate run [1000]")
    p.add_argument(
        "--connections",
        type=int,
        default=12,
        help="callers in flight at max throughput: wrk threads, one connection each [12]",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds each mode's time is split into, alternating bare and full [3]",
    )
    p.add_argument(
        "--probe-rate",
        type=float,
        default=200.0,
        help="hops/s of a last, light run against the gateway alone, whose latency "
        "by journey and hop is service time, not queueing (0: skip) [200]",
    )
    p.add_argument(
        "--idle-wait",
        type=float,
        default=60.0,
        help="at most this many seconds in all to wait, before a round, for other "
        "processes to leave the CPU alone [60]",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 4 s per mode in 2 rounds, 600 callers (rough numbers)",
    )
    p.add_argument("--seed", type=int, default=20260601, help="random seed of the plan")
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary folder (plans, wrk and gunicorn logs) for diagnosis",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=None,
        help="write the JSON results here [bench/results/ussd_load-<time>.json]",
    )
    p.add_argument(
        "--app",
        default="gateway:create_app()",
        help="the gunicorn app of the full server, e.g. to try a change kept "
        "outside the tree (with PYTHONPATH) [gateway:create_app()]",
    )
    p.add_argument(
        "--no-floor",
        dest="floor",
        action="store_false",
        help="do not serve bench/floor_app.py (one Redis GET and SET per request, the "
        "issue's reference handler) in the same rounds, nor report the gateway against it",
    )
    p.add_argument(
        "--outage",
        type=float,
        default=5.0,
        help="last, stop Redis this many seconds under a fixed load and measure how long "
        "the gateway takes to answer normally once Redis is back (0: skip) [5]",
    )
    p.add_argument(
        "--recovery-rate",
        type=float,
        default=500.0,
        help="hops/s during the Redis restart [500]",
    )
    a = p.parse_args(argv)
    if a.quick:
        a.duration = min(a.duration, 4.0)
        a.callers = min(a.callers, 600)
        a.rounds = min(a.rounds, 2)
    if a.callers < 2 * a.connections:
        p.error("--callers must be at least twice --connections")
    return Options(
        duration=a.duration,
        callers=a.callers,
        workers=a.workers,
        rate=a.rate,
        connections=a.connections,
        rounds=max(a.rounds, 1),
        probe_rate=a.probe_rate,
        idle_wait=a.idle_wait,
        quick=a.quick,
        seed=a.seed,
        keep=a.keep,
        results=a.results,
        app=a.app,
        floor=a.floor,
        outage=a.outage,
        recovery_rate=a.recovery_rate,
    )


def say(message: str) -> None:
    print(message, flush=True)


# --- the data set ----------------------------------------------------------------------------


@dataclass
class Caller:
    phone: str
    own_requests: int  # document requests on file for this phone


@dataclass
class Population:
    callers: list[Caller]
    targets: list[tuple[str, int, str]]  # (request number, applicant birth year, owner phone)
    villages_per_district: list[int]  # in the order the district menu shows them


def pg_url(schema: str) -> str:
    return f"{PG_BASE}?options=-csearch_path%3D{schema}"


def create_schema(schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_BASE)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()


def drop_schema(schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_BASE)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def app_env(schema: str, redis_url: str) -> dict[str, str]:
    """The environment of every child: this run's database and Redis, nothing from a local
    config file or token that would change what the gateway does."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GATEWAY_CONFIG", "WEBHOOK_TOKEN", "FLASK_APP", "FLASK_DEBUG")
    }
    env.update(DATABASE_URL=pg_url(schema), REDIS_URL=redis_url, PYTHONUNBUFFERED="1")
    return env


def flask_cli(env: dict[str, str], *args: str) -> None:
    """Prepare data the way an operator does: the CLI, not private shortcuts."""
    cmd = [str(BIN / "flask"), "--app", "gateway", *args]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:])} failed:\n{done.stdout}{done.stderr}")


def seed_population(url: str, n_callers: int, rng: random.Random) -> Population:
    """Returning callers: residents with a village and a language, most with requests on file;
    published visits for most villages. Written with ``storage.queries``, as the CLI does."""
    from common.local_time import local_today
    from storage import queries
    from storage.db import Database
    from storage.regions import RegionDirectory
    from storage.vocab import DOC_TYPES, REQUEST_STATUSES

    db = Database(url)
    try:
        with db.begin() as session:
            regions = RegionDirectory.load(session)
        villages = [v.code for v in regions.villages]
        callers: list[Caller] = []
        targets: list[tuple[str, int, str]] = []
        with db.begin() as session:
            for i in range(n_callers):
                phone = f"+6281370{i:06d}"
                queries.upsert_resident(
                    session,
                    phone,
                    village_code=rng.choice(villages),
                    language="en" if rng.random() < 0.15 else "id",
                )
                n_requests = rng.choices((0, 1, 2, 3), weights=(30, 40, 20, 10))[0]
                for _ in range(n_requests):
                    status = rng.choice(REQUEST_STATUSES)
                    year = rng.randint(1940, 2006)
                    request = queries.add_request(
                        session,
                        doc_type=rng.choice(DOC_TYPES),
                        phone=phone,
                        birth_year=year,
                        village_code=rng.choice(villages),
                        status=status,
                        pickup_place="Kantor Desa" if status in ("ready", "collected") else None,
                    )
                    targets.append((request.number, year, phone))
                callers.append(Caller(phone=phone, own_requests=n_requests))
        today = local_today()
        with db.begin() as session:
            for code in villages:
                if rng.random() < 0.8:  # the others answer "no visit yet" (notify me)
                    queries.add_visit(
                        session,
                        village_code=code,
                        visit_date=today + dt.timedelta(days=rng.randint(1, 25)),
                        start_time=dt.time(9),
                        end_time=dt.time(13),
                        place="Balai Desa",
                        bring="KK asli dan KTP lama",
                    )
        per_district = [len(regions.villages_of(d.code)) for d in regions.districts]
        return Population(callers=callers, targets=targets, villages_per_district=per_district)
    finally:
        db.dispose()


# --- the journeys ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Journey:
    name: str
    final: str  # "CON" or "END": what the last reply must be
    keys: tuple[str, ...]  # what the caller types after dialling, one hop each


def plan_journey(kind: str, caller: Caller, pop: Population, rng: random.Random) -> Journey:
    """One journey of ``caller`` through flows/screens.toml, key by key."""
    if kind == "status_own" and caller.own_requests:
        return Journey(kind, "CON", ("1", str(rng.randint(1, caller.own_requests))))
    if kind in ("status_own", "status_other"):
        number, year, owner = rng.choice(pop.targets)
        while owner == caller.phone:
            number, year, owner = rng.choice(pop.targets)
        other = ("9",) if caller.own_requests else ()  # from my list: "9 other number"
        return Journey("status_other", "CON", ("1", *other, number, str(year)))
    if kind == "next_visit":
        if rng.random() < 0.8:  # the remembered village
            return Journey(kind, "END", ("3", "1"))
        district = rng.randrange(len(pop.villages_per_district))
        village = rng.randint(1, pop.villages_per_district[district])
        return Journey("next_visit_other", "END", ("3", "2", str(district + 1), str(village), "1"))
    if kind == "home_visit":
        hamlet = "1" if rng.random() < 0.6 else rng.choice(HAMLETS)  # "1": skip
        return Journey(
            kind,
            "END",
            (
                "2",
                str(rng.randint(1, 2)),
                str(rng.randint(1, 4)),
                str(rng.randint(1, 4)),
                hamlet,
                "1",
            ),
        )
    if kind == "priority":
        keys = ("4", "1", str(rng.randint(1, 6)))
        if rng.random() < 0.75:
            return Journey(kind, "END", (*keys, "1"))
        return Journey("priority_read", "CON", keys)
    if kind == "language":
        return Journey(kind, "CON", ("5", "2" if rng.random() < 0.3 else "1"))
    raise ValueError(kind)


def write_plans(folder: Path, pop: Population, threads: int, seed: int) -> None:
    """plan-<thread>.txt for each wrk thread: its callers (phones i with i % threads == thread)
    and each caller's journeys. The same seed gives the same journeys whatever the threads."""
    folder.mkdir(parents=True, exist_ok=True)
    kinds, weights = list(MIX), list(MIX.values())
    files = [(folder / f"plan-{t}.txt").open("w") for t in range(threads)]
    try:
        for i, caller in enumerate(pop.callers):
            rng = random.Random(f"{seed}:{caller.phone}")
            out = files[i % threads]
            out.write(f"C {urllib.parse.quote_plus(caller.phone)}\n")
            for kind in rng.choices(kinds, weights=weights, k=JOURNEYS_PER_CALLER):
                j = plan_journey(kind, caller, pop, rng)
                keys = "|".join(urllib.parse.quote_plus(k) for k in j.keys)
                out.write(f"J {j.name} {j.final} {keys}\n")
    finally:
        for f in files:
            f.close()


def write_markers(folder: Path) -> None:
    """Texts that tell the Lua script a reply went off-script: an error line (a key the screen
    did not accept), the resume offer, the gateway's catch-all failure reply."""
    from flows.catalog import load_catalogs
    from gateway.webhooks.ussd import FAILURE_REPLY

    lines = []
    for catalog in load_catalogs().values():
        lines += [f"error {v}" for k, v in catalog.texts.items() if k.startswith("error.")]
        lines.append(f"resume {catalog.texts['resume.title']}")
    lines.append(f"failure {FAILURE_REPLY}")
    (folder / "markers.txt").write_text("\n".join(lines) + "\n")


# --- servers -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gunicorn_args(workers: int, port: int, log: Path) -> list[str]:
    """The one server configuration both apps run under (the Procfile's, on loopback)."""
    return [
        str(BIN / "gunicorn"),
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--error-logfile",
        str(log),
    ]


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path


def wait_ready(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            break
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    tail = server.log.read_text(errors="replace")[-2000:] if server.log.exists() else ""
    raise RuntimeError(f"{server.name} server did not become ready on port {server.port}\n{tail}")


@contextmanager
def gunicorn(
    name: str, app: str, workers: int, env: dict[str, str], tmp: Path, extra: tuple[str, ...] = ()
) -> Iterator[Server]:
    port = free_port()
    log = tmp / f"gunicorn-{name}.log"
    proc = subprocess.Popen(
        [*gunicorn_args(workers, port, log), *extra, app],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Server(name, port, proc, log)
    try:
        wait_ready(server)
        yield server
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# --- CPU accounting ----------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_snapshot() -> dict[int, tuple[str, int, int]]:
    """pid -> (name, parent pid, CPU ticks used so far) of every process, from /proc."""
    snap = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        snap[int(entry.name)] = (name, int(fields[1]), int(fields[11]) + int(fields[12]))
    return snap


def machine_ticks() -> tuple[int, int]:
    """(busy, total) ticks of all CPUs together, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4], sum(fields)  # minus idle and iowait


@dataclass
class CpuUse:
    """Average cores used during a run, by whom. ``other`` is any process that is not part of
    the benchmark: if it is not ~0, another job shared the machine and the numbers are low."""

    machine: float = 0.0
    gen: float = 0.0  # the load generator (wrk or open_loop.py)
    app: float = 0.0  # gunicorn masters and workers of both servers
    db: float = 0.0  # PostgreSQL and Redis
    other: float = 0.0
    other_names: list[str] = field(default_factory=list)


class CpuMeter:
    def __init__(self, server_pids: set[int]) -> None:
        self.server_pids = server_pids
        self.start()

    def start(self) -> None:
        self.snap = proc_snapshot()
        self.machine = machine_ticks()
        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.wall = time.monotonic()

    def stop(self) -> CpuUse:
        snap, machine = proc_snapshot(), machine_ticks()
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


def wait_for_idle(budget: list[float], server_pids: set[int]) -> None:
    """Before a round: wait while other processes keep the CPU busy (a test suite, a build),
    spending at most what is left of ``budget[0]`` seconds over the whole run."""
    meter = CpuMeter(server_pids)
    waited = 0.0
    while True:
        time.sleep(0.5)
        use = meter.stop()
        if use.other < 0.15:
            break
        if budget[0] <= 0:
            say(f"  (busy machine: {', '.join(use.other_names[:3])}; not waiting any longer)")
            break
        if waited == 0:
            say(f"  waiting for the machine to be idle: {', '.join(use.other_names[:3])}")
        budget[0] -= 0.5
        waited += 0.5
        meter.start()


# --- load generation -------------------------------------------------------------------------


@dataclass
class Run:
    """One load-generator run against one server."""

    server: str
    mode: str  # warmup | max | rate
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


def merge(into: dict[Any, int], more: dict[Any, int]) -> None:
    for key, n in more.items():
        into[key] = into.get(key, 0) + n


def merge_per_hop(into: dict[str, list[float]], more: dict[str, list[float]]) -> None:
    for key, (n, total, top) in more.items():
        agg = into.setdefault(key, [0, 0.0, 0.0])
        agg[0] += n
        agg[1] += total
        agg[2] = max(agg[2], top)


def percentile(hist: dict[int, int], q: float) -> float:
    """The q-th percentile (0-100), in ms, of a {µs bucket: count} histogram."""
    total = sum(hist.values())
    if not total:
        return float("nan")
    seen = 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= q / 100 * total:
            return bucket / 1000
    return max(hist) / 1000


def run_wrk(
    server: Server,
    mode: str,
    *,
    threads: int,
    duration: float,
    plan: Path,
    tmp: Path,
    skip: int,
    meter: CpuMeter,
) -> Run:
    """Closed loop: ``threads`` wrk threads, one connection each, each playing its callers'
    journeys. A warm-up ends (SIGINT) once every caller has finished one journey."""
    tag = f"{server.name}-{mode}-{skip}"
    out = tmp / f"wrk-{tag}.json"
    env = {
        **os.environ,
        "USSD_BENCH_PLAN": str(plan),
        "USSD_BENCH_OUT": str(out),
        "USSD_BENCH_RUN": tag.replace("-", ""),
        "USSD_BENCH_MODE": "warmup" if mode == "warmup" else "measure",
        "USSD_BENCH_CHECK": "flow" if server.name == "full" else "prefix",
        "USSD_BENCH_SKIP": str(skip),
    }
    # wrk takes whole seconds only ("3.75s" is refused)
    cmd = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(threads),
        "-d",
        f"{max(1, round(duration))}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA_SCRIPT),
        f"http://127.0.0.1:{server.port}/ussd",
    ]
    meter.start()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        if mode == "warmup":
            deadline = time.monotonic() + duration
            warm = [out.with_name(f"{out.name}.warm{t}") for t in range(threads)]
            while proc.poll() is None and time.monotonic() < deadline:
                if all(w.exists() for w in warm):
                    proc.send_signal(signal.SIGINT)  # wrk stops and reports
                    break
                time.sleep(0.1)
        stdout, _ = proc.communicate(timeout=duration + 30)
    finally:
        stop_process(proc, grace=5)
    cpu = meter.stop()
    (tmp / f"wrk-{tag}.txt").write_bytes(stdout or b"")
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{(stdout or b'').decode()[-2000:]}")
    return parse_result(server.name, mode, 0.0, json.loads(out.read_text(errors="replace")), cpu)


def run_open_loop(
    server: Server,
    *,
    rate: float,
    duration: float,
    plan: Path,
    tmp: Path,
    skip: int,
    meter: CpuMeter,
) -> Run:
    """Open loop at a fixed rate: see bench/open_loop.py for why this is not wrk."""
    tag = f"{server.name}-rate-{skip}"
    out = tmp / f"open-loop-{tag}.json"
    cmd = [
        sys.executable,
        str(OPEN_LOOP),
        "--plan",
        str(plan),
        "--port",
        str(server.port),
        "--rate",
        f"{rate:g}",
        "--duration",
        f"{duration:g}",
        "--skip",
        str(skip),
        "--check",
        "flow" if server.name == "full" else "prefix",
        "--run",
        tag.replace("-", ""),
        "--seed",
        str(skip),
        "--out",
        str(out),
    ]
    meter.start()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    cpu = meter.stop()
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"open_loop.py failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return parse_result(server.name, "rate", rate, json.loads(out.read_text(errors="replace")), cpu)


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
    full: Server, own_redis: RedisServer, opts: Options, plan: Path, tmp: Path
) -> Recovery:
    """The fixed-rate generator against the gateway; after 3 s Redis is stopped, after
    ``--outage`` more seconds started again. Recovery: from the moment Redis answers a PING
    to the start of the first second-long window after which every second-long window
    (in steps of 0.1 s) has at least 99 % normal hops -- a CON/END that is not the failure
    reply. The gateway is never restarted."""
    before, after = 3.0, 6.0
    duration = before + opts.outage + after
    out = tmp / "open-loop-recovery.json"
    cmd = [
        sys.executable, str(OPEN_LOOP), "--plan", str(plan), "--port", str(full.port),
        "--rate", f"{opts.recovery_rate:g}", "--duration", f"{duration:g}", "--skip", "99",
        "--check", "prefix", "--run", "recovery", "--seed", "99", "--out", str(out),
    ]  # fmt: skip
    say(
        f"recovery: {opts.recovery_rate:,.0f} hops/s on the gateway; Redis stopped for "
        f"{opts.outage:g} s, then started again ..."
    )
    generator = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(before)
    down_at = time.time()
    own_redis.stop()
    time.sleep(opts.outage)
    own_redis.start()  # returns once Redis answers a PING
    back_at = time.time()
    _, stderr = generator.communicate(timeout=duration + 60)
    if generator.returncode != 0 or not out.exists():
        raise RuntimeError(f"open_loop.py failed ({generator.returncode}):\n{stderr[-2000:]}")
    data = json.loads(out.read_text())
    timeline = {int(tenth): counts for tenth, counts in data["timeline"].items()}
    during = [c for t, c in timeline.items() if down_at * 10 <= t < back_at * 10]
    result = Recovery(
        rate=opts.recovery_rate,
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


def measure(
    servers: list[Server], opts: Options, plan: Path, tmp: Path, meter: CpuMeter
) -> tuple[list[Run], list[Summary]]:
    """Warm both servers up, then alternate them round by round -- max throughput first, then
    the fixed rate -- so that drift on a shared machine hits both alike."""
    runs: list[Run] = []
    each = opts.duration / opts.rounds
    budget = [opts.idle_wait]
    for server in servers:
        say(f"warm-up {server.name}: every caller plays one journey ...")
        warm = run_wrk(
            server,
            "warmup",
            threads=opts.connections,
            duration=90,
            plan=plan,
            tmp=tmp,
            skip=0,
            meter=meter,
        )
        say(
            f"  {warm.counters['hops']:,} hops, {warm.counters['journeys']:,} journeys in "
            f"{warm.duration_s:.1f} s" + (f", errors {warm.errors}" if warm.errors else "")
        )
        runs.append(warm)
    skip = 1
    for mode in ("max", "rate"):
        what = (
            f"max throughput (wrk, {opts.connections} callers in flight)"
            if mode == "max"
            else f"fixed rate {opts.rate:,.0f} hops/s (open loop, Poisson arrivals)"
        )
        say(f"{what}: {opts.rounds} rounds x {each:g} s per server ...")
        for round_no in range(opts.rounds):
            wait_for_idle(budget, meter.server_pids)
            line = []
            for server in servers:
                if mode == "max":
                    run = run_wrk(
                        server,
                        mode,
                        threads=opts.connections,
                        duration=each,
                        plan=plan,
                        tmp=tmp,
                        skip=skip,
                        meter=meter,
                    )
                else:
                    run = run_open_loop(
                        server,
                        rate=opts.rate,
                        duration=each,
                        plan=plan,
                        tmp=tmp,
                        skip=skip,
                        meter=meter,
                    )
                runs.append(run)
                line.append(
                    f"{server.name} {run.hops_per_s:,.0f} hops/s "
                    f"p99 {percentile(run.hist, 99):.1f} ms"
                )
                if run.cpu.other > 0.1:
                    line.append(
                        f"(other load {run.cpu.other:.2f} cores: "
                        f"{', '.join(run.cpu.other_names[:3])})"
                    )
            skip += 1
            say(f"  round {round_no + 1}: " + "; ".join(line))
    if opts.probe_rate > 0:
        wait_for_idle(budget, meter.server_pids)
        say(
            f"light load {opts.probe_rate:,.0f} hops/s on the gateway alone, {each:g} s "
            "(service time by journey and hop) ..."
        )
        probe = run_open_loop(
            servers[-1],
            rate=opts.probe_rate,
            duration=each,
            plan=plan,
            tmp=tmp,
            skip=skip,
            meter=meter,
        )
        runs.append(replace(probe, mode="probe"))
    summaries = [
        summarize([r for r in runs if r.server == s.name and r.mode == mode])
        for mode in ("max", "rate")
        for s in servers
    ]
    return runs, summaries


# --- report ------------------------------------------------------------------------------------


def machine_info(redis_url: str) -> dict[str, str]:
    info = {
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }
    with suppress(Exception):
        info["commit"] = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    with suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with suppress(Exception):
        info["wrk"] = (
            subprocess.run(["wrk", "-v"], capture_output=True, text=True)
            .stdout.split("[")[0]
            .strip()
        )
    with suppress(Exception):
        info["gunicorn"] = subprocess.run(
            [str(BIN / "gunicorn"), "--version"], capture_output=True, text=True
        ).stdout.strip()
    with suppress(Exception):
        from sqlalchemy import create_engine, text

        engine = create_engine(PG_BASE)
        with engine.connect() as conn:
            info["postgresql"] = str(conn.execute(text("SHOW server_version")).scalar())
        engine.dispose()
    with suppress(Exception):
        import redis

        client = redis.Redis.from_url(redis_url)
        info["redis"] = str(client.info("server")["redis_version"])
        client.close()
    return info


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def fmt_s(value: float | None) -> str:
    return "never (within the run)" if value is None else f"{value:.1f} s"


def table(summaries: list[Summary], recovery: Recovery | None = None) -> str:
    rows = [
        "| server | mode | hops/s | p50 ms | p99 ms | p99 from due time ms | errors "
        "| off-script | journeys | CPU cores: generator / app / db / other "
        "| recovery after a Redis restart s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for s in summaries:
        mode = "max throughput" if s.mode == "max" else f"fixed {s.target_rate:,.0f}/s"
        cpu = " / ".join(f"{s.cpu[k]:.2f}" for k in ("gen", "app", "db", "other"))
        recovered = "-"
        if recovery is not None and (s.server, s.mode) == ("full", "rate"):
            recovered = "never" if recovery.seconds is None else f"{recovery.seconds:.1f}"
        rows.append(
            f"| {s.server} | {mode} | {s.hops_per_s:,.0f} | {s.p50_ms:.1f} | "
            f"{s.p99_ms:.1f} | {fmt_ms(s.sched_p99_ms)} | {s.error_count} | "
            f"{s.off_script if s.server == 'full' else '-'} | {s.journeys:,} | {cpu} "
            f"| {recovered} |"
        )
    return "\n".join(rows)


def per_hop_table(summary: Summary) -> str:
    rows = ["| journey | hop | hops | mean ms | max ms |", "|---|---:|---:|---:|---:|"]
    for key, (n, mean, top) in summary.per_hop.items():
        name, _, hop = key.partition("#")
        rows.append(f"| {name} | {hop} | {n:,.0f} | {mean:.2f} | {top:.1f} |")
    return "\n".join(rows)


def verdict(
    summaries: list[Summary], runs: list[Run], recovery: Recovery | None
) -> tuple[bool, list[str]]:
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


def report(
    opts: Options,
    summaries: list[Summary],
    runs: list[Run],
    recovery: Recovery | None,
    machine: dict[str, str],
    elapsed: float,
) -> bool:
    ok, lines = verdict(summaries, runs, recovery)
    say("")
    say(table(summaries, recovery))
    say("")
    for line in lines:
        say(line)
    rate = [s for s in summaries if s.mode == "rate"]
    say(
        "load generator lateness at the fixed rate, p99: "
        + ", ".join(f"{s.server} {fmt_ms(s.late_p99_ms)} ms" for s in rate)
    )
    probes = [r for r in runs if r.mode == "probe"]
    if probes:
        probe = summarize(probes)
        say("")
        say(
            f"gateway at {probe.target_rate:,.0f} hops/s: {probe.hops_per_s:,.0f} hops/s, "
            f"p50 {probe.p50_ms:.1f} ms, p99 {probe.p99_ms:.1f} ms; service time by journey "
            "and hop (1 = dialling, 2 = first key, ...; r = answering a resume offer with 2, "
            f"{probe.resumed:,} times):"
        )
        say(per_hop_table(probe))
    for s in summaries:
        for sample in s.samples:
            say(f"off-script ({s.server} {s.mode}): {sample}")
    path = opts.results or RESULTS / f"ussd_load-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "options": {k: str(v) for k, v in vars(opts).items()},
                "machine": machine,
                "recovery": vars(recovery) if recovery else None,
                "mix": MIX,
                "verdict": lines,
                "passed": ok,
                "summaries": [{**vars(s), "hops_per_s": s.hops_per_s} for s in summaries],
                "probe": vars(summarize(probes)) if probes else None,
                "runs": [
                    {k: v for k, v in vars(r).items() if not k.startswith("hist")}
                    | {"cpu": vars(r.cpu), "hops_per_s": r.hops_per_s}
                    for r in runs
                ],
            },
            indent=1,
            default=str,
        )
    )
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    say(f"\nresults: {shown} ({elapsed:.0f} s in all)")
    return ok


# --- main --------------------------------------------------------------------------------------


def preflight() -> None:
    if shutil.which("wrk") is None:
        sys.exit(
            "wrk is not installed. It is the load generator for max throughput (C with "
            "LuaJIT scripting: cheap enough per request to leave the two cores to the "
            "servers).\nInstall it with:  sudo apt-get install -y wrk"
        )
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is not installed (the benchmark runs one of its own)")
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        sys.exit("PostgreSQL does not answer on 127.0.0.1:5432; start it (.ci/run shows how)")


def interrupted(_signum: int, _frame: Any) -> None:
    """SIGTERM cleans up like Ctrl-C: servers stopped, schema dropped, Redis stopped."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    preflight()
    signal.signal(signal.SIGTERM, interrupted)
    tmp = Path(tempfile.mkdtemp(prefix="ussd-bench-"))
    schema = f"bench_{secrets.token_hex(4)}"
    # A redis-server of the benchmark's own: the recovery run stops and starts it.
    (tmp / "redis").mkdir()
    own_redis = RedisServer(tmp / "redis")
    env = app_env(schema, own_redis.url)
    started = time.monotonic()
    runs: list[Run] = []
    summaries: list[Summary] = []
    recovery: Recovery | None = None
    machine: dict[str, str] = {}
    try:
        own_redis.start()
        say(f"setup: schema {schema} in {PG_BASE.rsplit('@', 1)[-1]}, Redis {own_redis.url}")
        create_schema(schema)
        for command in (("db", "upgrade"), ("regions", "import"), ("demo",)):
            flask_cli(env, *command)
        pop = seed_population(pg_url(schema), opts.callers, random.Random(opts.seed))
        plan = tmp / "plan"
        write_plans(plan, pop, opts.connections, opts.seed)
        write_markers(plan)
        say(
            f"setup: {len(pop.callers):,} callers, {len(pop.targets):,} requests on file "
            f"({time.monotonic() - started:.0f} s)"
        )
        with ExitStack() as servers:
            bench_app = ("--pythonpath", str(BENCH))
            bare = servers.enter_context(
                gunicorn("bare", "bare_app:app", opts.workers, env, tmp, extra=bench_app)
            )
            floor = (
                [
                    servers.enter_context(
                        gunicorn("floor", "floor_app:app", opts.workers, env, tmp, extra=bench_app)
                    )
                ]
                if opts.floor
                else []
            )
            full = servers.enter_context(gunicorn("full", opts.app, opts.workers, env, tmp))
            say(
                f"gunicorn, {opts.workers} sync workers each: bare Flask on 127.0.0.1:"
                f"{bare.port}, {opts.app} (PostgreSQL + Redis) on 127.0.0.1:{full.port}"
                + "".join(f", one Redis GET + SET on 127.0.0.1:{f.port}" for f in floor)
            )
            meter = CpuMeter({s.proc.pid for s in (bare, *floor, full)})
            runs, summaries = measure([bare, *floor, full], opts, plan, tmp, meter)
            if opts.outage > 0:
                recovery = measure_recovery(full, own_redis, opts, plan, tmp)
            machine = machine_info(own_redis.url)
    except KeyboardInterrupt:
        say("interrupted: cleaning up")
        return 130
    finally:
        with suppress(Exception):
            drop_schema(schema)
        own_redis.stop()
        if opts.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if report(opts, summaries, runs, recovery, machine, time.monotonic() - started) else 1


if __name__ == "__main__":
    sys.exit(main())
