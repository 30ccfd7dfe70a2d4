"""Where a USSD hop's time goes, in-process: the same journeys as ``bench/ussd_load.py``, played
straight into the WSGI app (no gunicorn, no sockets, no load generator), with CPU and wall time
per hop of each journey, and the database and Redis round trips per hop.

Why: the load benchmark says *how fast*; this says *where*, repeatably, on one core. Use it
before and after a change to the hop path; ``--profile`` adds a cProfile of the run.

Usage: ``.venv/bin/python bench/hop_profile.py [--journeys N] [--profile] [--sort tottime]``.
Needs PostgreSQL on 127.0.0.1 (a fresh schema ``bench_<random>`` of database ``test``, dropped
at the end) and ``redis-server`` (one of its own is started on a free port).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the code next to this script

from bench.shared.basics import child_env
from bench.shared.schema import TempSchema
from bench.ussd.journeys import Journey, journeys_of
from bench.ussd.population import prepare_database, seed_population
from tests.live_servers import RedisServer

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


def post(app: WsgiApp, form: dict[str, str]) -> tuple[str, str]:
    """One POST /ussd straight into the WSGI callable, as gunicorn would call it."""
    body = urlencode(form).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/ussd",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    status: list[str] = []
    chunks = app(environ, lambda s, _h, _e=None: status.append(s))
    try:
        reply = b"".join(chunks).decode()
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return status[0], reply


class Counters:
    """Database statements and Redis commands, counted with the libraries' own hooks."""

    def __init__(self) -> None:
        self.sql = 0
        self.redis = 0

    def attach(self, gateway_app: Any) -> None:
        from sqlalchemy import event

        from gateway.runtime import runtime

        rt = runtime(gateway_app)

        def _count_sql(*_args: Any) -> None:
            self.sql += 1

        for engine in (rt.db.engine, rt.db.autocommit):
            event.listen(engine, "before_cursor_execute", _count_sql)

        if getattr(rt.db, "_driver_sql", None) is not None:
            # PostgreSQL look-ups bypass SQLAlchemy's events (Database._read_with_driver)
            real_read = rt.db._read_with_driver

            def read_with_driver(*args: Any) -> Any:
                self.sql += 1
                return real_read(*args)

            rt.db._read_with_driver = read_with_driver  # type: ignore[method-assign,assignment]

        if rt.redis is not None:
            pool = rt.redis.connection_pool
            counters = self

            original = pool.connection_class.send_packed_command

            def send_packed_command(conn: Any, command: Any, check_health: bool = True) -> Any:
                counters.redis += 1
                return original(conn, command, check_health)

            pool.connection_class.send_packed_command = send_packed_command  # type: ignore[method-assign]


def play(
    app: WsgiApp,
    plans: list[tuple[str, list[Journey]]],
    journeys: int,
    counters: Counters | None,
) -> dict[tuple[str, int], list[tuple[float, float, int, int]]]:
    """Play ``journeys`` journeys, callers in turn; (cpu, wall, sql, redis) per journey hop."""
    samples: dict[tuple[str, int], list[tuple[float, float, int, int]]] = defaultdict(list)
    played = 0
    cursor = [0] * len(plans)
    while played < journeys:
        for index, (phone, planned) in enumerate(plans):
            journey = planned[cursor[index] % len(planned)]
            cursor[index] += 1
            session_id = f"prof-{secrets.token_hex(6)}"
            typed: list[str] = []
            for hop, key in enumerate(("", *journey.keys)):
                if hop:
                    typed.append(key)
                form = {
                    "sessionId": session_id,
                    "phoneNumber": phone,
                    "serviceCode": "*123#",
                    "networkCode": "51010",
                    "text": "*".join(typed),
                }
                sql0, redis0 = (counters.sql, counters.redis) if counters else (0, 0)
                cpu0, wall0 = time.process_time(), time.perf_counter()
                status, reply = post(app, form)
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
                if not status.startswith("200") or not reply.startswith(("CON ", "END ")):
                    raise SystemExit(f"bad reply {status} {reply!r} for {journey} hop {hop}")
                if hop == 0 and "2 " in reply and ("Lanjut" in reply or "Continue" in reply):
                    post(app, {**form, "text": "2"})  # resume offer: start again, not measured
                    typed = ["2"]
                sql, red = (counters.sql - sql0, counters.redis - redis0) if counters else (0, 0)
                samples[(journey.name, hop)].append((cpu, wall, sql, red))
                if reply.startswith("END "):
                    break
            played += 1
            if played >= journeys:
                break
    return samples


def report(title: str, samples: dict[tuple[str, int], list[tuple[float, float, int, int]]]) -> None:
    every = [s for values in samples.values() for s in values]
    n = len(every)
    print(f"\n{title}: {n:,} hops")
    print(f"{'journey':<18}{'hop':>4}{'hops':>7}{'cpu µs':>9}{'wall µs':>9}{'sql':>6}{'redis':>7}")
    for (name, hop), values in sorted(samples.items()):
        k = len(values)
        print(
            f"{name:<18}{hop:>4}{k:>7}{sum(v[0] for v in values) / k * 1e6:>9.0f}"
            f"{sum(v[1] for v in values) / k * 1e6:>9.0f}{sum(v[2] for v in values) / k:>6.2f}"
            f"{sum(v[3] for v in values) / k:>7.2f}"
        )
    print(
        f"{'all (mix)':<18}{'':>4}{n:>7}{sum(v[0] for v in every) / n * 1e6:>9.0f}"
        f"{sum(v[1] for v in every) / n * 1e6:>9.0f}{sum(v[2] for v in every) / n:>6.2f}"
        f"{sum(v[3] for v in every) / n:>7.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--journeys", type=int, default=3000, help="measured journeys [3000]")
    p.add_argument("--callers", type=int, default=600, help="callers in the pool [600]")
    p.add_argument("--profile", action="store_true", help="print a cProfile of the measured run")
    p.add_argument("--sort", default="tottime", help="cProfile sort key [tottime]")
    p.add_argument("--top", type=int, default=40, help="cProfile rows [40]")
    p.add_argument(
        "--only", default="", help="play only journeys of this name (e.g. priority_read)"
    )
    p.add_argument("--seed", type=int, default=7)
    opts = p.parse_args(argv)

    schema = TempSchema("bench")
    redis_dir = Path(tempfile.mkdtemp(prefix="hop-profile-"))
    own_redis = RedisServer(redis_dir)
    env = child_env(DATABASE_URL=schema.url, REDIS_URL=own_redis.url)
    try:
        own_redis.start()
        schema.create()
        prepare_database(env)
        pop = seed_population(schema.url, opts.callers, random.Random(opts.seed))
        plans = [(caller.phone, journeys_of(caller, pop, opts.seed)) for caller in pop.callers]
        if opts.only:
            plans = [
                (phone, kept)
                for phone, planned in plans
                if (kept := [j for j in planned if j.name == opts.only])
            ]
        os.environ.clear()  # the app in this process sees what a gunicorn of the load run sees
        os.environ.update(env)
        from gateway import create_app

        app = create_app()
        counters = Counters()
        counters.attach(app)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bare_app import app as bare

        play(app, plans, len(plans), None)  # warm-up: every caller once (profiles cached)
        bare_samples = play(bare, plans, opts.journeys, None)
        profiler = cProfile.Profile() if opts.profile else None
        if profiler:
            profiler.enable()
        samples = play(app, plans, opts.journeys, counters)
        if profiler:
            profiler.disable()
        report("bare Flask", bare_samples)
        report("gateway", samples)
        if profiler:
            stats = pstats.Stats(profiler, stream=sys.stdout)
            stats.sort_stats(opts.sort).print_stats(opts.top)
    finally:
        schema.drop()
        own_redis.stop()
        shutil.rmtree(redis_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
