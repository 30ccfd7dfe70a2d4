"""What a USSD load run prints and keeps: the table of every server and mode, the verdict, the
service time by journey and hop at light load, and the same as JSON in ``bench/results/``."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from contextlib import suppress

from bench.shared.basics import BIN, PG_BASE, ROOT, results_path, say
from bench.ussd.journeys import MIX
from bench.ussd.options import Options
from bench.ussd.recovery import Recovery
from bench.ussd.runs import Run
from bench.ussd.summary import Summary, fmt_ms, summarize, verdict


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


def machine_info(redis_url: str) -> dict[str, str]:
    """The machine and the versions of what was measured, for the JSON."""
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


def report(
    opts: Options,
    summaries: list[Summary],
    runs: list[Run],
    recovery: Recovery | None,
    machine: dict[str, str],
    elapsed: float,
) -> bool:
    """Print everything, write the JSON; True if every target was met."""
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
    path = opts.results or results_path("ussd_load")
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
