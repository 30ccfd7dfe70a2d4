"""The two load generators, each run as a process of its own against one server: wrk with
``bench/ussd_load.lua`` (closed loop, for max throughput) and ``bench/open_loop.py`` (a fixed
rate of Poisson arrivals). Both play the plan folder and write the same JSON result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.shared.basics import ROOT
from bench.shared.cpu import CpuMeter
from bench.ussd.runs import Run, parse_result
from bench.ussd.servers import Server
from tests.live_servers import stop_process

LUA_SCRIPT = ROOT / "bench" / "ussd_load.lua"
OPEN_LOOP = ROOT / "bench" / "open_loop.py"


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
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
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


def open_loop_command(
    server: Server,
    *,
    rate: float,
    duration: float,
    plan: Path,
    tmp: Path,
    skip: int,
    check: str,
    tag: str,
) -> tuple[list[str], Path]:
    """The command line of ``bench/open_loop.py`` against ``server``, and where it writes."""
    out = tmp / f"open-loop-{tag}.json"
    cmd = [
        sys.executable, str(OPEN_LOOP), "--plan", str(plan), "--port", str(server.port),
        "--rate", f"{rate:g}", "--duration", f"{duration:g}", "--skip", str(skip),
        "--check", check, "--run", tag.replace("-", ""), "--seed", str(skip), "--out", str(out),
    ]  # fmt: skip
    return cmd, out


def read_open_loop(out: Path, returncode: int | None, stderr: str) -> dict[str, Any]:
    """The JSON ``bench/open_loop.py`` wrote, or why there is none."""
    if returncode != 0 or not out.exists():
        raise RuntimeError(f"open_loop.py failed ({returncode}):\n{stderr[-2000:]}")
    return dict(json.loads(out.read_text(errors="replace")))


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
    check = "flow" if server.name == "full" else "prefix"
    tag = f"{server.name}-rate-{skip}"
    cmd, out = open_loop_command(
        server, rate=rate, duration=duration, plan=plan, tmp=tmp, skip=skip, check=check, tag=tag
    )
    meter.start()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    cpu = meter.stop()
    data = read_open_loop(out, done.returncode, done.stderr)
    return parse_result(server.name, "rate", rate, data, cpu)
