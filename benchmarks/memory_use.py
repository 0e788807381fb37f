"""Worker memory: PSS of each worker process at start and after every ``--step`` tasks.

Starts ``arame worker MODULE -c C`` (process pool by default) on a fresh queue, lets it answer
one task, reads PSS from ``/proc/PID/smaps_rollup`` for the supervisor and each child, then
publishes ``--step`` tasks at a time and reads PSS again once they are all finished, up to
``-n``. Prints, per run, the largest child's PSS at start and at the end, and its growth; with
``--trace`` every step too. Each run is a fresh process.

    .venv/bin/python benchmarks/memory_use.py --broker redis -n 100000 --step 10000
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import common


def pss_kib(pid: int) -> int:
    """Proportional set size of ``pid`` in KiB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    """The direct children of ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return sorted(found)


def snapshot(supervisor: int) -> tuple[float, float]:
    """(supervisor MiB, largest child MiB)."""
    kids = [pss_kib(p) for p in children(supervisor)] or [0]
    return pss_kib(supervisor) / 1024, max(kids) / 1024


def measure(args: argparse.Namespace, broker: str, results: str) -> dict[str, float]:
    """One run: PSS at start, then after each step of tasks."""
    with common.bench_app(broker, results) as bench:
        app = bench.import_app()
        add = app.tasks[f"{bench.module}.add"]
        worker = bench.worker(args.concurrency, args.pool, burst=False)
        out_of_time = common.deadline(args.timeout)
        try:
            add.delay(0, 0).get(timeout=60)
            time.sleep(0.5)
            sup0, child0 = snapshot(worker.pid)
            sup, child, sent = sup0, child0, 1
            child1 = float("nan")
            while sent < args.n and not out_of_time():
                for start in range(0, args.step, common.PUBLISH_BATCH):
                    add.map([(i, i) for i in range(start, min(args.step, start + common.PUBLISH_BATCH))])
                sent += args.step
                while common.count_finished(bench, app) < sent and not out_of_time():
                    time.sleep(0.2)
                sup, child = snapshot(worker.pid)
                child1 = child if sent == 1 + args.step else child1
                if args.trace:
                    print(
                        f"    {sent:7d} tasks: supervisor {sup:5.1f} MiB, child {child:5.1f} MiB",
                        file=sys.stderr,
                    )
        finally:
            common.stop(worker)
            app.close()
        return {
            "child0": child0,
            "child": child,
            "growth%": (child - child0) / child0 * 100 if child0 else float("nan"),
            "flat%": (child - child1) / child1 * 100,
            "sup0": sup0,
            "sup": sup,
            "tasks": float(sent),
        }


FIELDS = [
    ("child0", "{:5.1f}MiB"),
    ("child", "{:5.1f}MiB"),
    ("growth%", "{:+5.1f}"),
    ("flat%", "{:+5.1f}"),
    ("sup0", "{:5.1f}MiB"),
    ("sup", "{:5.1f}MiB"),
    ("tasks", "{:6.0f}"),
]

if __name__ == "__main__":
    p = common.parser(__doc__.splitlines()[0], n=100_000, brokers="redis")
    p.add_argument("--step", type=int, default=10_000, help="tasks between readings [10000]")
    p.add_argument("--trace", action="store_true", help="print every reading (to stderr)")
    common.main(p, measure, FIELDS)
