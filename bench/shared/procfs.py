"""What Linux's /proc tells about processes and the machine: CPU ticks, parents and children,
memory. Every benchmark reads /proc through these."""

from __future__ import annotations

import os
from contextlib import suppress

CLK_TCK = os.sysconf("SC_CLK_TCK")  # CPU ticks per second


def read_stat(pid: int) -> tuple[str, list[str]] | None:
    """(command name, the fields after it) of /proc/PID/stat, None if the process is gone.
    Index 0 of the fields is the state (field 3); 1 the parent, 2 the process group, 11-14
    utime, stime, cutime, cstime, 19 the start time."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()


def stat_fields(pid: int) -> list[str]:
    """The fields of ``read_stat``; empty if the process is gone."""
    found = read_stat(pid)
    return found[1] if found else []


def process_table() -> dict[int, tuple[str, int, int]]:
    """pid -> (name, parent pid, CPU ticks used so far) of every process."""
    table = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (found := read_stat(int(entry.name))):
            name, fields = found
            table[int(entry.name)] = (name, int(fields[1]), int(fields[11]) + int(fields[12]))
    return table


def machine_ticks() -> tuple[int, int]:
    """(busy, total) ticks of all CPUs together since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)  # minus idle and iowait


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) in bytes; empty if the process is gone."""
    values: dict[str, int] = {}
    with suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, amount, _unit = line.split()
                values[name.rstrip(":")] = int(amount) * 1024
    return values


def reset_peak_rss(pid: int) -> None:
    """Let VmHWM start again from the current RSS (Linux: "5" to clear_refs)."""
    with suppress(OSError), open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def children(pid: int) -> list[int]:
    found: list[int] = []
    with suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                found.extend(int(c) for c in f.read().split())
    return found


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def identity(pid: int) -> tuple[int, str] | None:
    """(pid, start time): a pid alone may have been reused by the time it is signalled."""
    fields = stat_fields(pid)
    return (pid, fields[19]) if fields else None


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used by a process and all its descendants so far, reaped ones included
    (they are in their parent's cutime/cstime): a counter that only grows while ``pid`` lives."""
    ticks = 0
    for p in [pid, *descendants(pid)]:
        fields = stat_fields(p)
        if fields:
            ticks += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / CLK_TCK


def find_process(command_name: str) -> int | None:
    """The process called ``command_name`` whose parent has another name: PostgreSQL's
    postmaster, not one of its backends."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        found = read_stat(int(entry))
        if found is None or found[0] != command_name:
            continue
        parent = read_stat(int(found[1][1]))
        if parent is None or parent[0] != command_name:
            return int(entry)
    return None
