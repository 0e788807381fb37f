"""Opening a worker's prefetch window: short tasks, in rounds, until its own log says it is open.

A consumer holds messages beyond its slots only while its moving average of task durations is
short (``Pace``). On a loaded machine the first runs of even an instant task take milliseconds,
so no fixed number of them is sure to bring the average down: the warm-up goes on in rounds and
stops on the event itself, read from the durations the worker logged.
"""

from __future__ import annotations

import re
import time

import arame
from arame.consumers.pace import Pace
from tests.faults.helpers import Stack, WorkerProcess, wait_until

#: Tasks published in one round of the warm-up.
ROUND = 20
#: The worker logs each success's duration to the millisecond: a duration is at most this more.
LOGGED_ROUNDING = 0.0005
_SUCCEEDED_IN = re.compile(r"\] succeeded in (\d+\.\d+)s$", re.MULTILINE)


def window_surely_open(log: str) -> bool:
    """Whether a worker whose tasks all succeeded, with these log lines, holds a prefetch window.

    Each logged duration is replayed through a ``Pace`` rounded up: an average of durations at
    least as long as the real ones is short only if the worker's own is (its window opens below
    a threshold and closes only above twice that).
    """
    pace = Pace()
    for seconds in _SUCCEEDED_IN.findall(log):
        pace.ran(float(seconds) + LOGGED_ROUNDING)
    return pace.short


def warm_up_until_prefetching(stack: Stack, worker: WorkerProcess, within: float = 90.0) -> int:
    """Run rounds of instant tasks on ``worker`` (one slot, thread pool, nothing else to run) until
    its prefetch window is open; return how many it ran."""
    deadline = time.monotonic() + within
    ran = 0
    while not window_surely_open(worker.log()):
        if time.monotonic() > deadline:
            raise AssertionError(f"the prefetch window still shut after {ran} short tasks:\n{worker.log()}")
        run_round(stack)
        ran += ROUND
    return ran


def run_round(stack: Stack) -> None:
    """Publish a round of instant tasks and wait until every one succeeded."""
    handles = [stack.tasks.add.delay(n, n) for n in range(ROUND)]
    wait_until(lambda: stack.all_in(handles, arame.SUCCESS), 30, "a round of short tasks succeeded")
