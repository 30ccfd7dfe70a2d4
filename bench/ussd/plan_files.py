"""The planned journeys as the load generators read them: a folder with one plan file per wrk
thread and the texts that mark a reply as off-script. Written here; read by
``bench/ussd_load.lua`` (wrk) and by ``read_plans`` (``bench/open_loop.py``).

``plan-<thread>.txt``: ``C <phone>`` starts a caller; each following ``J <name> <CON|END>
<key>|<key>|...`` is one of its journeys (phone and keys url-encoded; there may be no keys).
``markers.txt``: ``error <text>``, ``resume <text>``, ``failure <text>``, one a line.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from bench.ussd.journeys import Journey, journeys_of
from bench.ussd.population import Population


def write_plans(folder: Path, pop: Population, threads: int, seed: int) -> None:
    """plan-<thread>.txt for each wrk thread: its callers (phones i with i % threads == thread)
    and each caller's journeys. The same seed gives the same journeys whatever the threads."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [(folder / f"plan-{t}.txt").open("w") for t in range(threads)]
    try:
        for i, caller in enumerate(pop.callers):
            out = files[i % threads]
            out.write(f"C {urllib.parse.quote_plus(caller.phone)}\n")
            for j in journeys_of(caller, pop, seed):
                keys = "|".join(urllib.parse.quote_plus(k) for k in j.keys)
                out.write(f"J {j.name} {j.final} {keys}\n")
    finally:
        for f in files:
            f.close()


def write_markers(folder: Path) -> None:
    """Texts that tell a load generator a reply went off-script: an error line (a key the
    screen did not accept), the resume offer, the gateway's catch-all failure reply."""
    from flows.catalog import load_catalogs
    from gateway.webhooks.ussd import FAILURE_REPLY

    lines = []
    for catalog in load_catalogs().values():
        lines += [f"error {v}" for k, v in catalog.texts.items() if k.startswith("error.")]
        lines.append(f"resume {catalog.texts['resume.title']}")
    lines.append(f"failure {FAILURE_REPLY}")
    (folder / "markers.txt").write_text("\n".join(lines) + "\n")


@dataclass
class Markers:
    errors: list[str] = field(default_factory=list)
    resume: list[str] = field(default_factory=list)
    failure: str = ""


def read_plans(folder: Path) -> tuple[list[tuple[str, list[Journey]]], Markers]:
    """Every caller of every plan file (phone, journeys; decoded), and the markers."""
    markers = Markers()
    for line in (folder / "markers.txt").read_text().splitlines():
        kind, _, text = line.partition(" ")
        if kind == "error":
            markers.errors.append(text)
        elif kind == "resume":
            markers.resume.append(text)
        elif kind == "failure":
            markers.failure = text
    callers: list[tuple[str, list[Journey]]] = []
    for plan in sorted(folder.glob("plan-*.txt")):
        for line in plan.read_text().splitlines():
            tag, _, rest = line.partition(" ")
            if tag == "C":
                callers.append((urllib.parse.unquote_plus(rest), []))
            elif tag == "J":
                name, final, *keys = rest.split(" ", 2)
                encoded = keys[0].split("|") if keys and keys[0] else []
                keys_typed = tuple(urllib.parse.unquote_plus(k) for k in encoded)
                callers[-1][1].append(Journey(name, final, keys_typed))
    return callers, markers
