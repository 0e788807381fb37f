"""The per-task work every compared system does, and how a run is watched from outside.

Every task of every system writes one byte to a count file (opened once per process with
``O_APPEND``, so the writes of all processes and threads add up), and the file's size is the number
of tasks done. The watcher polls the size, stamps the time at the 10 % and 90 % marks, and reads
the CPU time (user + system) of the worker's whole process tree there from ``/proc``: the worker
runs in its own session, so every process whose session id is the worker's pid belongs to it,
supervisor, children and threads alike. Standard library only: the peers' environment runs it too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

POLL_S = 0.002
TICKS = os.sysconf("SC_CLK_TCK")

# Top of every worker module: the count file, opened once per process (and inherited over fork).
COUNTER = """\
import os as _os

_COUNT = _os.open({path!r}, _os.O_WRONLY | _os.O_APPEND | _os.O_CREAT, 0o644)


def tick():
    _os.write(_COUNT, b".")
"""


def done(path: Path) -> int:
    """Tasks counted so far."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def tree_cpu(session: int) -> float:
    """CPU seconds (user + system) of every process in ``session``, with their reaped children."""
    return _cpu(lambda command, fields: int(fields[3]) == session)


def postgres_cpu() -> float:
    """CPU seconds (user + system) of this machine's PostgreSQL server: every process named
    ``postgres``, with the backends they reaped (a closed connection's backend counts on)."""
    return _cpu(lambda command, fields: command == "postgres")


BROKER_COMMANDS = frozenset({"beam.smp", "redis-server"})  # RabbitMQ's Erlang VM, Redis


def broker_cpu() -> float:
    """CPU seconds (user + system) of this machine's RabbitMQ and Redis servers."""
    return _cpu(lambda command, fields: command in BROKER_COMMANDS)


def _cpu(chosen: Callable[[str, list[str]], bool]) -> float:
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                head, tail = f.read().rsplit(")", 1)
        except OSError:
            continue
        fields = tail.split()
        # After the command: state ppid pgrp session ... utime(12) stime(13) cutime(14) cstime(15).
        if chosen(head.split("(", 1)[1], fields):
            total += sum(int(v) for v in fields[11:15])
    return total / TICKS


@dataclass
class Watch:
    """What a watched run gave: the marks' times, CPU readings and counts.

    Attributes:
        n: tasks the run waits for.
        times: count mark -> monotonic seconds when it was first seen reached.
        cpu: count seen at a CPU reading -> the worker tree's CPU seconds then.
        server_cpu: the same readings of the PostgreSQL server's CPU seconds.
        broker_cpu: and of the RabbitMQ and Redis servers'.
    """

    n: int
    times: dict[int, float] = field(default_factory=dict)
    cpu: dict[int, float] = field(default_factory=dict)
    server_cpu: dict[int, float] = field(default_factory=dict)
    broker_cpu: dict[int, float] = field(default_factory=dict)

    @property
    def marks(self) -> tuple[int, int]:
        return self.n // 10, self.n * 9 // 10

    def figures(self) -> dict[str, float]:
        """Steady rate (tasks/s between the marks), and CPU per task in µs over the same span of the
        worker (``cpu_us``), of the PostgreSQL server (``pg_cpu_us``: the results, and the queues
        on the PostgreSQL broker) and of RabbitMQ and Redis (``broker_cpu_us``); anything else
        those servers did then counts too."""
        lo, hi = self.marks
        nan = float("nan")
        if lo not in self.times or hi not in self.times or len(self.cpu) < 2:
            return {"rate": nan, "cpu_us": nan, "pg_cpu_us": nan, "broker_cpu_us": nan}
        rate = (hi - lo) / (self.times[hi] - self.times[lo])
        return {
            "rate": rate,
            "cpu_us": _per_task(self.cpu),
            "pg_cpu_us": _per_task(self.server_cpu),
            "broker_cpu_us": _per_task(self.broker_cpu),
        }


def watch(path: Path, n: int, session: int, alive: Callable[[], bool], timeout: float) -> Watch:
    """Poll ``path`` until ``n`` tasks are counted (or the worker dies, or time runs out)."""
    seen = Watch(n)
    end = time.monotonic() + timeout
    pending = list(seen.marks)
    while time.monotonic() < end:
        count = done(path)
        now = time.monotonic()
        while pending and count >= pending[0]:
            seen.times[pending.pop(0)] = now
            cpu, server, broker = tree_cpu(session), postgres_cpu(), broker_cpu()
            counted = done(path)
            seen.cpu[counted], seen.server_cpu[counted], seen.broker_cpu[counted] = cpu, server, broker
        if count >= n or not alive():
            break
        time.sleep(POLL_S)
    return seen


def _per_task(readings: dict[int, float]) -> float:
    """µs of CPU per task between the first two readings (count -> CPU seconds)."""
    if len(readings) < 2:
        return float("nan")
    (c0, s0), (c1, s1) = sorted(readings.items())[:2]
    return (s1 - s0) / (c1 - c0) * 1e6 if c1 > c0 else float("nan")


def latencies(samples: list[float]) -> dict[str, float]:
    """p50, p99 and max of round trips in ms, and how many."""
    import statistics

    ordered = sorted(samples)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": cuts[49], "p99": cuts[98], "max": ordered[-1], "count": float(len(ordered))}
