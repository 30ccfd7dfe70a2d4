"""Where things are, what every child process of a benchmark gets, and how progress is shown."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent  # the repository (or a scratch copy)
BIN = Path(sys.executable).parent  # the venv's bin: flask, gunicorn, rq
RESULTS = ROOT / "bench" / "results"  # JSON copies of the reports (not committed)
PG_BASE = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# What would change what the gateway does if a child inherited it from the caller's shell.
_NOT_INHERITED = (
    "GATEWAY_CONFIG",
    "DATABASE_URL",
    "REDIS_URL",
    "WEBHOOK_TOKEN",
    "AT_USERNAME",
    "AT_API_KEY",
    "FLASK_APP",
    "FLASK_DEBUG",
)


def child_env(**values: str) -> dict[str, str]:
    """The environment of a gateway process a benchmark starts: this run's ``values``
    (DATABASE_URL and REDIS_URL, or GATEWAY_CONFIG), nothing from a local config file or token,
    and the code next to the benchmark first on the path (also when it runs from a scratch copy
    with another checkout installed in the venv)."""
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(values)
    return env


def results_path(benchmark: str) -> Path:
    """bench/results/<benchmark>-<local time>.json, the default place of a run's JSON."""
    return RESULTS / f"{benchmark}-{dt.datetime.now():%Y%m%d-%H%M%S}.json"


def say(message: str) -> None:
    print(message, flush=True)


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """SIGTERM cleans up like Ctrl-C: every benchmark stops what it started in ``finally``."""
    signal.signal(signal.SIGTERM, _interrupt)
