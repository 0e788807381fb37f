"""Where the time goes: a py-spy profile of arame's worker or producer under load, summarised.

Scenarios (``--scenario``):

- ``worker``: ``-n`` counting tasks published first, then the default worker; py-spy records the
  supervisor and its children (``--subprocesses``) for ``--duration`` seconds once it is busy;
- ``delay``, ``map``, ``roundtrip``: this script runs the producer loop (``delay()``, ``Task.map``
  1,000 per call, or ``delay().get()`` against an idle worker) under py-spy (the caller only).

py-spy writes collapsed stacks (``-f raw``); the summary sorts every sample into the library it is
in, from the innermost frame outwards (psycopg, SQLAlchemy, py-amqp, Kombu, redis-py, JSON...), or
arame's own code, thread waits (locks, queues) and socket waits, and prints the shares and the
top frames by own time. ``--idle`` keeps samples of waiting threads (for latency), else only the
samples where a thread was running (for CPU).

    .venv/bin/python benchmarks/hotspots.py --scenario worker --broker rabbitmq -n 40000 -o /tmp/w.txt
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import time
from pathlib import Path

import common
import counting
import ours

LIBRARIES = [
    ("psycopg", "PostgreSQL client (psycopg: send, wait, parse)"),
    ("sqlite3/", "SQLite (sqlite3)"),
    ("sqlalchemy/", "SQLAlchemy (statements, pool, rows)"),
    ("amqp/", "py-amqp (framing, socket I/O)"),
    ("redis/", "redis-py (commands, socket I/O)"),
    ("kombu/", "Kombu (messages, channels)"),
    ("json/", "JSON"),
    ("opentelemetry/", "OpenTelemetry"),
]


def within(frame: str, path: str) -> bool:
    """Whether ``frame`` ("function (path:line)") is in a file under ``path``."""
    return f"({path}" in frame or f"/{path}" in frame


def category(frames: list[str]) -> str:
    """The library a sample is in (frames root first), or where in arame or the stdlib."""
    generic = ""
    for frame in reversed(frames):
        for path, name in LIBRARIES:
            if within(frame, path):
                return name
        if within(frame, "arame/"):
            return generic or "arame's own code"
        if not generic and (within(frame, "threading.py") or within(frame, "queue.py")):
            generic = "thread waits (locks, queues, conditions)"
        if not generic and (within(frame, "selectors.py") or within(frame, "socket.py")):
            generic = "socket waits (select, recv)"
    return generic or "other (interpreter, stdlib, start-up)"


def summarise(raw: Path, top: int = 15) -> str:
    """Shares per category and the top frames by own time, from py-spy's collapsed stacks."""
    shares: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    callers: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        total += int(count)
        shares[category(frames)] += int(count)
        leaves[frames[-1]] += int(count)
        own = [f for f in frames if within(f, "arame/")]
        callers[own[-1] if own else "(no arame frame)"] += int(count)
    lines = [f"{total} samples"]
    lines += [f"  {n / total * 100:5.1f} %  {name}" for name, n in shares.most_common()]
    lines.append("top frames by own time:")
    lines += [f"  {n / total * 100:5.1f} %  {frame[:150]}" for frame, n in leaves.most_common(top)]
    lines.append("innermost arame frame (what arame was doing, with everything it called):")
    lines += [f"  {n / total * 100:5.1f} %  {frame[:150]}" for frame, n in callers.most_common(top)]
    return "\n".join(lines)


def spy(target: list[str], out: Path, args: argparse.Namespace) -> list[str]:
    """The py-spy command line that records ``target`` (``--pid P`` or ``-- argv``)."""
    argv = [str(common.VENV_BIN / "py-spy"), "record", "-f", "raw", "-o", str(out), "-r", str(args.rate)]
    argv += ["--nonblocking"] + (["--idle"] if args.idle else [])
    if target[0] == "--pid":  # the worker: its supervisor and children
        argv += ["--subprocesses", "-d", str(args.duration)]
    return argv + target


def profile_worker(args: argparse.Namespace, broker: str, results: str) -> None:
    """Publish ``n`` counting tasks, start the default worker, record it once it is busy."""
    with common.bench_app(broker, results, count=True, queues=args.queues) as bench:
        app = bench.import_app()
        add = app.tasks[f"{bench.module}.add"]
        per_call = min(common.PUBLISH_BATCH, max(1, args.n // args.queues))
        for number, start in enumerate(range(0, args.n, per_call)):
            add.map(
                [(i, i) for i in range(start, min(args.n, start + per_call))],
                queue=bench.queues[number % args.queues],
            )
        app.close_broker()
        options = ["-Q", ",".join(bench.queues)] if args.queues > 1 else []
        worker = bench.worker(None, None, burst=False, options=options)
        try:
            while counting.done(bench.count_file) < args.n // 10 and worker.poll() is None:
                time.sleep(0.01)
            subprocess.run(spy(["--pid", str(worker.pid)], args.output, args), check=True)
            print(f"{counting.done(bench.count_file)} tasks done when the profile ended", file=sys.stderr)
        finally:
            common.stop(worker)
            app.close()


def inner(args: argparse.Namespace, broker: str, results: str) -> None:
    """The producer loop, run under py-spy."""
    if args.scenario == "roundtrip":
        ours.roundtrip(args, broker, results)
    else:
        ours.delay_loop(args, broker, results) if args.scenario == "delay" else map_only(
            args, broker, results
        )


def map_only(args: argparse.Namespace, broker: str, results: str) -> None:
    """``Task.map`` of 1,000 calls, ``n`` calls in all."""
    with common.bench_app(broker, results) as bench:
        app = bench.import_app()
        add = app.tasks[f"{bench.module}.add"]
        add.delay(0, 0)
        for start in range(0, args.n, common.PUBLISH_BATCH):
            add.map([(i, i) for i in range(start, min(args.n, start + common.PUBLISH_BATCH))])
        app.close()


def main() -> None:
    """Record, then print the summary."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", choices=["worker", "delay", "map", "roundtrip"], default="worker")
    p.add_argument("--broker", default="rabbitmq", help="a name of common.BROKERS or a URL")
    p.add_argument("-n", type=int, default=40_000, help="tasks (or calls, or round trips)")
    p.add_argument("--queues", type=int, default=1, help="worker: spread the tasks over this many queues")
    p.add_argument("--duration", type=int, default=8, help="worker: seconds recorded")
    p.add_argument("--rate", type=int, default=250, help="samples per second")
    p.add_argument("--idle", action="store_true", help="keep the samples of waiting threads")
    p.add_argument("-o", "--output", type=Path, default=Path("profile.txt"), help="collapsed stacks")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.timeout = 600.0
    broker, results = common.resolve(args.broker, "postgresql")
    if args.inner:
        inner(args, broker, results)
        return
    if args.scenario == "worker":
        profile_worker(args, broker, results)
    else:
        argv = [sys.executable, __file__, "--inner", *sys.argv[1:]]
        subprocess.run(spy(["--", *argv], args.output, args), check=True)
    print(summarise(args.output))


if __name__ == "__main__":
    main()
