"""The measurement proper: every server warmed up, then rounds that alternate the servers --
max throughput first, then the fixed rate -- so that drift on a shared machine hits them alike;
last a light load on the gateway alone, whose latency is service time rather than queueing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bench.shared.basics import say
from bench.shared.cpu import CpuMeter, wait_for_idle
from bench.ussd.generators import run_open_loop, run_wrk
from bench.ussd.options import Options
from bench.ussd.runs import Run, percentile
from bench.ussd.servers import Server
from bench.ussd.summary import Summary, summarize


def indented(message: str) -> None:
    say(f"  {message}")


def measure(
    servers: list[Server], opts: Options, plan: Path, tmp: Path, meter: CpuMeter
) -> tuple[list[Run], list[Summary]]:
    """Every run in the order played, and each server's rounds of each mode merged."""
    runs: list[Run] = []
    each = opts.duration / opts.rounds
    budget = opts.idle_wait  # for the whole run

    def wait_for_idle_machine() -> None:
        nonlocal budget
        budget -= wait_for_idle(budget, meter.server_pids, indented)

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
            wait_for_idle_machine()
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
        wait_for_idle_machine()
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
