"""Build phase timings: wall and CPU seconds of the process tree per phase (ODSPEC_BUILD_TIMINGS=1 prints them).

The one home of phase timing. CPU is the tree's: this process, its live descendants (the
worker pool, read from /proc/<pid>/stat) and its reaped children (getrusage), so a phase
that keeps both cores busy shows ~200 %. Printed to stderr as one line per phase:
``timing <phase> wall=<s> cpu=<s> cpu%=<n>``; benchmarks/build_dataset.py parses them.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

ENV = "ODSPEC_BUILD_TIMINGS"
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def parse_stat(line: str) -> tuple[int, int, float]:
    """(pid, ppid, utime+stime seconds) of one /proc/<pid>/stat line (the name may hold spaces and parens)."""
    head, _, rest = line.rpartition(")")
    pid = int(head.split("(", 1)[0])
    fields = rest.split()  # fields[0] is state (field 3); ppid is field 4, utime 14, stime 15
    return pid, int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def tree_cpu(stats: list[tuple[int, int, float]], root: int) -> float:
    """CPU seconds of ``root`` and every descendant among ``stats`` (pid, ppid, seconds)."""
    children: dict[int, list[int]] = {}
    seconds = {}
    for pid, ppid, cpu in stats:
        children.setdefault(ppid, []).append(pid)
        seconds[pid] = cpu
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += seconds.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


def cpu_percent(wall: float, cpu: float) -> float:
    return 100.0 * cpu / wall if wall > 0 else 0.0


def _live_stats() -> list[tuple[int, int, float]]:
    stats = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as handle:
                    stats.append(parse_stat(handle.read()))
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
    return stats


def process_tree_cpu() -> float:
    """CPU seconds so far of this process, its live descendants and its reaped children."""
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    live = tree_cpu(_live_stats(), os.getpid()) - (own.ru_utime + own.ru_stime) if os.path.isdir("/proc") else 0.0
    return own.ru_utime + own.ru_stime + max(live, 0.0) + reaped.ru_utime + reaped.ru_stime


def enabled() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time the block; print its line when ODSPEC_BUILD_TIMINGS is set (otherwise costs nothing)."""
    span = Span(name)
    span.start()
    try:
        yield
    finally:
        span.end()


class Span:
    """A phase that starts and ends in different places (:func:`phase` for a block): printed like one at
    :meth:`end`, from the first :meth:`start` (later calls change nothing); nothing when timings are off."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._start: tuple[float, float] | None = None

    def start(self) -> None:
        if self._start is None and enabled():
            self._start = (time.perf_counter(), process_tree_cpu())

    def end(self) -> None:
        self.start()  # never started: it spans the time from here
        if self._start is None:
            return
        wall, cpu = time.perf_counter() - self._start[0], process_tree_cpu() - self._start[1]
        self._start = None
        sys.stderr.write(f"timing {self.name} wall={wall:.3f} cpu={cpu:.3f} cpu%={cpu_percent(wall, cpu):.0f}\n")


def parse_timings(text: str) -> dict[str, dict[str, float]]:
    """The ``timing`` lines of ``text`` as {phase: {"wall": s, "cpu": s, "cpu%": n}} (last one wins)."""
    found = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "timing":
            found[parts[1]] = {k: float(v) for k, v in (p.split("=", 1) for p in parts[2:] if "=" in p)}
    return found
