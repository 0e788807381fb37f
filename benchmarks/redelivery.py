"""Redelivery after a dead worker: seconds from SIGKILL until its task starts again on another worker.

One ``arame worker -c 1`` (process pool) starts a task that sleeps; a second worker is started
and proven to consume (it runs a probe task); then the first worker's process group is
SIGKILLed, and the time until the task starts on the second worker is read from a log the task
appends to. On RabbitMQ the broker sees the connection close; on the Redis and SQL brokers the
message comes back once its lease (``lease_seconds``, 5 s by default) runs out. Each run is a
fresh process with its own queue.

    .venv/bin/python benchmarks/redelivery.py --broker redis,rabbitmq,sqlite,postgresql,mariadb
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import common

HOLD_TASK = '''

import os as _os
import time as _time


@app.task
def hold(log, seconds):
    """Append "pid time" to ``log``; sleep ``seconds`` on the first run only."""
    again = _os.path.exists(log)
    with open(log, "a") as out:
        out.write(f"{_os.getpid()} {_time.time():.6f}\\n")
    _time.sleep(0.05 if again else seconds)
'''


def starts(log: Path) -> list[tuple[int, float]]:
    """(pid, epoch seconds) of each start the task logged."""
    if not log.exists():
        return []
    return [(int(pid), float(at)) for pid, at in (line.split() for line in log.read_text().splitlines())]


def wait_for(condition: Callable[[], object], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {within:.0f}s")
        time.sleep(0.01)


def measure(args: argparse.Namespace, broker: str, results: str) -> dict[str, float]:
    """One run: a task on a worker that is then killed; seconds until it starts on another."""
    with common.bench_app(broker, results) as bench:
        with (bench.directory / f"{bench.module}.py").open("a") as module:
            module.write(HOLD_TASK)
        app = bench.import_app()
        log = bench.directory / "starts.log"
        doomed = bench.worker(1, "process", burst=False)
        standby = None
        try:
            app.tasks[f"{bench.module}.hold"].delay(str(log), 300.0)
            wait_for(lambda: starts(log), args.timeout, "the task started")
            standby = bench.worker(1, "process", burst=False)
            # The doomed worker's only slot is busy: the probe can only run on the standby.
            app.tasks[f"{bench.module}.add"].delay(1, 1).get(timeout=args.timeout)
            killed_at = time.time()
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait()
            wait_for(lambda: len(starts(log)) > 1, args.timeout, "the task started again")
            (_, first), (_, again) = starts(log)[:2]
        finally:
            for worker in (doomed, standby):
                if worker is not None:
                    common.stop(worker)
        app.close()
        return {"redelivery_s": again - killed_at, "ran_for_s": killed_at - first}


FIELDS = [("redelivery_s", "{:6.2f}s"), ("ran_for_s", "{:5.1f}s")]

if __name__ == "__main__":
    options = common.parser(__doc__.splitlines()[0], n=1, brokers="redis,rabbitmq,sqlite,postgresql,mariadb")
    common.main(options, measure, FIELDS)
