"""What a USSD load run was asked to do (``bench/ussd_load.py --help`` explains each)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Options:
    duration: float  # measured seconds per server and mode, split into rounds
    callers: int  # distinct phones in the pool
    workers: int  # gunicorn sync workers per server
    rate: float  # hops/s of the fixed-rate run
    connections: int  # callers in flight at max throughput (wrk threads)
    rounds: int
    probe_rate: float  # the light-load run on the gateway alone (0: none)
    idle_wait: float  # seconds, over the whole run, to wait for an idle machine
    quick: bool
    seed: int
    keep: bool  # keep the temporary folder
    results: Path | None  # the JSON's path (None: bench/results/ussd_load-<time>.json)
    app: str  # the full server's gunicorn app
    floor: bool  # serve and report the reference handler too
    outage: float  # seconds Redis is stopped in the recovery run (0: none)
    recovery_rate: float
