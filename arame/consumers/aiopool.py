"""The asyncio pool: ``async def`` tasks run as asyncio tasks on one event loop, many at once.

One thread runs the loop. Admitted messages queue up here; the loop claims them in batches (on
a thread: the claim is a database round trip), then starts each claimed ``async def`` task as an
asyncio task, up to ``count`` at once. A sync task runs on a thread of a pool of up to ``count``
threads, as in the thread pool. Outcomes go to the consumer's writer as a slot's do, and are
acknowledged after they commit.

Limits of an ``async def`` task are timers on the loop: the soft one cancels the coroutine with
``SoftTimeLimitExceeded`` (see ``aiorun``); the hard one cancels it and records
``TimeLimitExceeded`` at once; a revoke with ``terminate=True`` (looked for every
``REVOKE_POLL`` seconds) cancels it and it reads REVOKED. The process lives on.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from arame import states
from arame.consumers import outcomes
from arame.consumers.aiorun import AsyncRun, Held, PoolCalls, aexecute
from arame.consumers.time_limits import REVOKE_POLL
from arame.errors import SoftTimeLimitExceeded, TimeLimitExceeded
from arame.message import TaskMessage
from arame.states import Outcome
from arame.task import Task
from arame.transport import Delivery

if TYPE_CHECKING:
    from arame.extensions import Extensions

logger = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 1000  # coroutines at once when the asyncio pool is not told otherwise
MAX_CLAIM = 500  # tasks claimed in one transaction
IO_THREADS = 4  # threads for the loop's database and broker calls (claims, revoke checks, retries)
CLAIMS_AT_ONCE = 2  # claim transactions in flight; what arrives meanwhile waits for the next one


class AsyncPool:
    """Runs up to ``count`` tasks at once on one event loop (``Slots``' part for ``--pool asyncio``).

    Args:
        count: tasks at once: coroutines, and sync tasks on threads.
        stopping: set when the consumer stops; the pool then starts nothing more.
        tasks: the registry.
        calls: what the pool calls on its consumer.
        extensions: act around each task's code (see ``execute``).
    """

    def __init__(
        self,
        count: int,
        stopping: threading.Event,
        tasks: Mapping[str, Task[Any, Any]],
        calls: PoolCalls,
        extensions: Extensions | None = None,
    ) -> None:
        self.count = count
        self._extensions = extensions
        self._stopping = stopping
        self._tasks = tasks
        self._calls = calls
        self._ready: deque[Held] = deque()
        self._lock = threading.Lock()
        self._signalled = False
        self._loop: asyncio.AbstractEventLoop | None = None  # made in start()
        self._thread = threading.Thread(target=self._run_loop, name="arame-asyncio", daemon=True)
        self._io = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="arame-asyncio-io")
        self._sync = ThreadPoolExecutor(count, thread_name_prefix="arame-slot")
        self._runs: set[AsyncRun] = set()  # the async tasks running
        self._claims: set[asyncio.Task[None]] = set()  # claim transactions in flight
        self._busy = 0  # tasks being claimed or running, sync ones included
        self._changed = asyncio.Event()
        self._worker = outcomes.worker_name()
        self._closing = False

    def start(self) -> None:
        """Start the loop's thread, its dispatcher and its revoke watch."""
        self._worker = outcomes.worker_name()
        loop = self._loop = asyncio.new_event_loop()
        self._thread.start()
        for job in (self._dispatch(), self._watch_revokes()):
            asyncio.run_coroutine_threadsafe(job, loop).add_done_callback(_broke)

    def _run_loop(self) -> None:
        """The loop's thread: run until ``close()``, then end the pool's own jobs, close the loop."""
        loop = self.loop
        try:
            loop.run_forever()
            jobs = asyncio.all_tasks(loop)
            for job in jobs:
                job.cancel()
            loop.run_until_complete(asyncio.gather(*jobs, return_exceptions=True))
        finally:
            loop.close()

    def put(self, message: TaskMessage, delivery: Delivery) -> None:
        """Queue an admitted task (from the draining thread)."""
        with self._lock:
            self._ready.append((message, delivery))
        self.wake()

    def wake(self) -> None:
        """Have the loop look at the queue again (one wake-up for many puts)."""
        with self._lock:
            if self._signalled or self._loop is None:
                return
            self._signalled = True
        with contextlib.suppress(RuntimeError):  # the loop is closed: the pool has stopped
            self._loop.call_soon_threadsafe(self._signal)

    def take_unstarted(self) -> list[Held]:
        """Empty the queue (once stopping); return what was not started."""
        with self._lock:
            unstarted, self._ready = list(self._ready), deque()
        self.wake()
        return unstarted

    def replace_dead(self, fail: Callable[..., None], settle: Callable[..., None]) -> None:
        """Nothing to replace: a task's exception is its outcome, and the loop outlives it."""

    def close(self) -> None:
        """Stop the loop and its threads once no task runs (at once, after a clean stop).

        Tasks still running (after a stop-now) go on until they end, their outcomes unacknowledged.
        """
        self._closing = True
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop_if_idle)
        if not self._busy:
            self._thread.join(5)
            self._io.shutdown(wait=False)
            self._sync.shutdown(wait=False)

    # -- on the loop ---------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The pool's event loop (once started)."""
        assert self._loop is not None, "the pool has not started"
        return self._loop

    def _signal(self) -> None:
        with self._lock:
            self._signalled = False
        self._changed.set()

    def _stop_if_idle(self) -> None:
        if self._closing and not self._busy:
            self.loop.stop()

    async def _dispatch(self) -> None:
        """Claim what is queued, in batches, while fewer than ``count`` tasks run."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            while len(self._claims) < CLAIMS_AT_ONCE and not self._stopping.is_set():
                if not (batch := self._take(self.count - self._busy)):
                    break
                self._busy += len(batch)
                claim = self.loop.create_task(self._claim_and_start(batch))
                self._claims.add(claim)
                claim.add_done_callback(self._claimed)

    def _claimed(self, claim: asyncio.Task[None]) -> None:
        """A claim transaction ended: what queued up meanwhile goes in the next one."""
        self._claims.discard(claim)
        self._changed.set()

    def _take(self, room: int) -> list[Held]:
        with self._lock:
            count = min(room, MAX_CLAIM, len(self._ready))
            return [self._ready.popleft() for _ in range(count)]

    async def _claim_and_start(self, batch: list[Held]) -> None:
        try:
            admitted, claimed = await self.loop.run_in_executor(self._io, self._admit_and_claim, batch)
        except Exception as exc:  # a bug past every handler: give the batch back
            logger.critical("could not claim %d task(s): %r", len(batch), exc, exc_info=True)
            for _, delivery in batch:
                self._calls.settle(delivery, False)
            self._done(len(batch))
            return
        self._done(len(batch) - len(admitted))  # held back at claim time: handed back already
        for message, delivery in admitted:
            if message.id not in claimed:
                self._calls.skip(message, delivery)  # revoked, or finished by an earlier delivery
                self._done(1)
            elif inspect.iscoroutinefunction(self._tasks[message.task].fn):
                self._start_async(message, delivery)
            else:
                self._start_sync(message, delivery)

    def _admit_and_claim(self, batch: list[Held]) -> tuple[list[Held], set[str]]:
        admitted = self._calls.admit(batch)
        return admitted, self._calls.claim(admitted) if admitted else set()

    def _done(self, count: int) -> None:
        """``count`` tasks ended (or were handed back): room for more."""
        if count:
            self._busy -= count
            self._changed.set()
            self._stop_if_idle()

    def _start_sync(self, message: TaskMessage, delivery: Delivery) -> None:
        future = self.loop.run_in_executor(self._sync, self._calls.run, message, delivery)

        def ran(done: asyncio.Future[None]) -> None:
            if not done.cancelled() and (error := done.exception()) is not None:
                logger.critical("the thread running task %s broke: %r", message.id, error)
                self._calls.fail(message, delivery, f"the worker thread running it broke: {error!r}")
            self._done(1)

        future.add_done_callback(ran)

    def _start_async(self, message: TaskMessage, delivery: Delivery) -> None:
        task = self._tasks[message.task]
        run = AsyncRun(message, delivery, time.perf_counter())
        run.task = self.loop.create_task(self._execute(task, run))
        run.task.add_done_callback(lambda _: self._unfinished(run))
        self._runs.add(run)
        options = task.options
        if options.soft_time_limit is not None:
            run.timers.append(self.loop.call_later(options.soft_time_limit, run.cancel, True))
        if options.time_limit is not None:
            run.timers.append(self.loop.call_later(options.time_limit, self._hard_limit, run))

    async def _execute(self, task: Task[Any, Any], run: AsyncRun) -> None:
        self._end(run, await aexecute(task, run, self._worker, self._extensions))

    def _hard_limit(self, run: AsyncRun) -> None:
        run.cancel()
        self._end(run, outcomes.over_limit(run.message, self._worker, TimeLimitExceeded))

    def _unfinished(self, run: AsyncRun) -> None:
        """The asyncio task ended without an outcome: cancelled before the coroutine started."""
        if not run.ended:
            kind = SoftTimeLimitExceeded if run.soft else TimeLimitExceeded
            self._end(run, outcomes.over_limit(run.message, self._worker, kind))

    def _end(self, run: AsyncRun, outcome: Outcome) -> None:
        """Hand on the first outcome of ``run`` (the coroutine's, or the limit's, or the revoke's)."""
        if run.ended:
            return
        run.ended = True
        for timer in run.timers:
            timer.cancel()
        self._runs.discard(run)
        ran = time.perf_counter() - run.began
        if outcome.state == states.RETRY:  # publishes the next attempt first: a broker round trip
            self.loop.run_in_executor(self._io, self._calls.end, run.message, run.delivery, outcome, ran)
        else:
            self._calls.end(run.message, run.delivery, outcome, ran)
        self._done(1)

    async def _watch_revokes(self) -> None:
        """Cancel running coroutines whose rows were revoked with ``terminate=True``."""
        while True:
            await asyncio.sleep(REVOKE_POLL)
            running = {run.message.id: run for run in self._runs}
            if not running:
                continue
            try:
                revoked = await self.loop.run_in_executor(self._io, self._calls.terminated, list(running))
            except Exception as exc:  # noqa: BLE001 - the database is away: look again next time
                logger.warning("could not check for revoked tasks: %s", exc)
                continue
            for task_id in revoked:
                run = running[task_id]
                run.cancel()
                reason = "terminated by a user"
                self._end(
                    run,
                    outcomes.failed(
                        run.message, self._worker, "TaskTerminated", reason, state=states.REVOKED
                    ),
                )


def _broke(job: Any) -> None:
    """A loop job that should run for ever ended: a bug; say so loudly."""
    if not job.cancelled() and job.exception() is not None:
        logger.critical("the asyncio pool stopped working: %r", job.exception(), exc_info=job.exception())
