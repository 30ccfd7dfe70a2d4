"""USSD load benchmark: whole caller journeys against the gateway under gunicorn, compared with
a bare Flask endpoint served by the very same gunicorn configuration.

Why: a USSD hop has a hard latency budget (the operator drops a session that answers slowly),
and the gateway's design promise is that a hop costs about one session-store round trip, with
the database touched only by the screens that need it. This measures that promise as a ratio
to the cheapest possible Flask reply on the same machine, so the number means something on any
hardware. Targets (issues 2 and 15): ``bench/ussd/summary.py``.

What it does, start to end (cleans up after itself, also on Ctrl-C or SIGTERM):
1. a fresh PostgreSQL schema ``bench_<random>`` in database ``test`` and a ``redis-server`` of
   its own on a free port, filled through the operator CLI (db upgrade, regions import, demo) and
   ``storage.queries`` (returning callers with requests, village visits): ``ussd/population.py``;
   the journeys each caller plays: ``ussd/journeys.py``, ``ussd/plan_files.py``;
2. gunicorn twice with the same settings: the bare app (``bench/bare_app.py``) and the gateway
   (``gateway:create_app()`` on PostgreSQL + Redis) and, unless ``--no-floor``, a third: the
   issue's reference handler (``bench/floor_app.py``: one Redis GET and SET per request):
   ``ussd/servers.py``;
3. a warm-up of each, in which every caller plays one journey (profiles get cached); then, in
   rounds that alternate the servers, max throughput (wrk, ``bench/ussd_load.lua``: closed
   loop, one caller per connection) and a fixed rate (``bench/open_loop.py``: Poisson
   arrivals, a new connection per hop); last, a light load on the gateway alone, whose latency
   by journey and hop is service time rather than queueing: ``ussd/rounds.py``,
   ``ussd/generators.py``; then Redis is stopped under a fixed load and started again
   (``--outage``), and the time until the gateway answers normally again is measured:
   ``ussd/recovery.py``;
4. a table of hops/s, p50, p99 and errors, the full/bare ratio, PASS/FAIL against the targets,
   and a JSON copy in ``bench/results/``: ``ussd/summary.py``, ``ussd/report.py``.

Usage: ``.venv/bin/python bench/ussd_load.py [--quick] [--duration S] [--callers N] ...``
(``make bench``). Needs wrk: ``apt-get install -y wrk``. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the code next to this script

from bench.shared.basics import PG_BASE, child_env, say, stop_on_sigterm
from bench.shared.cpu import CpuMeter
from bench.shared.schema import TempSchema
from bench.ussd.options import Options
from bench.ussd.plan_files import write_markers, write_plans
from bench.ussd.population import prepare_database, seed_population
from bench.ussd.recovery import Recovery, measure_recovery
from bench.ussd.report import machine_info, report
from bench.ussd.rounds import measure
from bench.ussd.runs import Run
from bench.ussd.servers import gunicorn
from bench.ussd.summary import Summary
from tests.live_servers import RedisServer  # the fault tests' own redis-server

BENCH_APPS = ("--pythonpath", str(Path(__file__).resolve().parent))  # bare_app, floor_app


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


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    preflight()
    stop_on_sigterm()
    tmp = Path(tempfile.mkdtemp(prefix="ussd-bench-"))
    schema = TempSchema("bench")
    # A redis-server of the benchmark's own: the recovery run stops and starts it.
    (tmp / "redis").mkdir()
    own_redis = RedisServer(tmp / "redis")
    env = child_env(DATABASE_URL=schema.url, REDIS_URL=own_redis.url)
    started = time.monotonic()
    runs: list[Run] = []
    summaries: list[Summary] = []
    recovery: Recovery | None = None
    machine: dict[str, str] = {}
    try:
        own_redis.start()
        say(f"setup: schema {schema.name} in {PG_BASE.rsplit('@', 1)[-1]}, Redis {own_redis.url}")
        schema.create()
        prepare_database(env)
        pop = seed_population(schema.url, opts.callers, random.Random(opts.seed))
        plan = tmp / "plan"
        write_plans(plan, pop, opts.connections, opts.seed)
        write_markers(plan)
        say(
            f"setup: {len(pop.callers):,} callers, {len(pop.targets):,} requests on file "
            f"({time.monotonic() - started:.0f} s)"
        )
        with ExitStack() as servers:
            workers = opts.workers
            bare = servers.enter_context(
                gunicorn("bare", "bare_app:app", workers, env, tmp, extra=BENCH_APPS)
            )
            floor = (
                [
                    servers.enter_context(
                        gunicorn("floor", "floor_app:app", workers, env, tmp, extra=BENCH_APPS)
                    )
                ]
                if opts.floor
                else []
            )
            full = servers.enter_context(gunicorn("full", opts.app, workers, env, tmp))
            say(
                f"gunicorn, {workers} sync workers each: bare Flask on 127.0.0.1:"
                f"{bare.port}, {opts.app} (PostgreSQL + Redis) on 127.0.0.1:{full.port}"
                + "".join(f", one Redis GET + SET on 127.0.0.1:{f.port}" for f in floor)
            )
            meter = CpuMeter({s.proc.pid for s in (bare, *floor, full)})
            runs, summaries = measure([bare, *floor, full], opts, plan, tmp, meter)
            if opts.outage > 0:
                recovery = measure_recovery(
                    full,
                    own_redis,
                    rate=opts.recovery_rate,
                    outage=opts.outage,
                    plan=plan,
                    tmp=tmp,
                )
            machine = machine_info(own_redis.url)
    except KeyboardInterrupt:
        say("interrupted: cleaning up")
        return 130
    finally:
        schema.drop()
        own_redis.stop()
        if opts.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if report(opts, summaries, runs, recovery, machine, time.monotonic() - started) else 1


if __name__ == "__main__":
    sys.exit(main())
