"""Consumer: fetch -> dispatch -> record -> ack, for one process."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence

from arame.consumers import outcomes, tasklog
from arame.consumers.admission import Admission, Poison, one_copy_each
from arame.consumers.aiopool import AsyncPool
from arame.consumers.aiorun import PoolCalls
from arame.consumers.dead_lettering import dead_letter
from arame.consumers.gate import FlowGate, Limiter, defer_over_limit
from arame.consumers.heartbeat import WorkerBoard
from arame.consumers.observer import WorkerObserver
from arame.consumers.pace import Pace
from arame.consumers.reconnect import reconnect
from arame.consumers.recorder import ResultRecorder
from arame.consumers.retry_publisher import RetryPublisher
from arame.consumers.slots import Slots
from arame.consumers.steering import Steering
from arame.consumers.time_limits import TimeLimits
from arame.consumers.writer import OutcomeWriter
from arame.errors import ResultStoreError, TransportError
from arame.message import TaskMessage
from arame.states import RETRY, Outcome, Started
from arame.transport import BrokerSpec, Delivery, Subscriber

logger = logging.getLogger(__name__)

IDLE_WAIT = 0.5  # seconds a drain blocks when nothing is running; bounds how late stop() is seen
BURST_WAIT = 0.02  # a burst worker looks at the queue sizes after this much quiet
BUSY_WAIT = 0.005  # while tasks run, drains are short so their acks go out promptly
SHUTDOWN_TIMEOUT = 30.0  # seconds running tasks get to finish after stop()


class Consumer:
    """Runs tasks from queues on ``slots`` threads, acknowledging each after its outcome commits.

    The transport's ``Subscriber`` only receives and acknowledges deliveries. The draining
    thread owns the broker connection: it receives deliveries, admits or dead-letters them,
    queues them for the slots, and acknowledges them once the writer reports their outcomes
    committed. A slot claims the next queued tasks in the results table (one transaction for a
    batch), runs the claimed ones and hands their outcomes to the writer.

    The broker hands over ``slots`` unacknowledged messages while tasks are long, so none
    waits behind a busy slot; while tasks are short (see ``Pace``) a window more, so that
    fetches, claims, commits and acks come in batches.

    Args:
        spec: the broker.
        queues: queues to consume.
        admission: the registry and the checks a message passes before it runs.
        recorder: where outcomes are committed.
        slots: how many tasks run at once.
        burst: return from ``run()`` once the queues are empty and nothing runs.
        shutdown_timeout: seconds running tasks get to finish after ``stop()``; then the
            consumer returns and their messages are delivered again.
        kill_on_hard_limit: a task past its hard time limit ends this process (process pool)
            instead of being interrupted inside its thread.
        asyncio_pool: run tasks on an event loop instead of threads, ``slots`` at once (see
            ``AsyncPool``; sync tasks run on threads there).
        observer: told when each task starts and ends (metrics).
        board: where paused queues are read (none: every queue is always consumed).
        limiter: the shared counters of rate and concurrency limits (none: no limits apply).
    """

    def __init__(
        self,
        spec: BrokerSpec,
        queues: Sequence[str],
        admission: Admission,
        recorder: ResultRecorder,
        *,
        slots: int = 1,
        burst: bool = False,
        shutdown_timeout: float = SHUTDOWN_TIMEOUT,
        kill_on_hard_limit: bool = False,
        asyncio_pool: bool = False,
        observer: WorkerObserver | None = None,
        board: WorkerBoard | None = None,
        limiter: Limiter | None = None,
    ) -> None:
        self.queues = list(queues)
        self._observer = observer
        self.slots = slots
        self.burst = burst
        self.shutdown_timeout = shutdown_timeout
        self._admission = admission
        self._subscriber = Subscriber(spec, self.queues, slots, self._receive)
        self._recorder = recorder
        self._writer = OutcomeWriter(recorder, self._committed)
        self._pace = Pace()
        self._done: deque[tuple[Delivery, bool]] = deque()
        self._done_event = threading.Event()
        self._stopping = threading.Event()
        self._stop_now = threading.Event()
        self._slots = self._pool(asyncio_pool, recorder)
        self._in_flight = 0
        self._worker_id = outcomes.worker_name()
        self._retries = RetryPublisher(spec, admission.signer)
        self._limits = TimeLimits(recorder, kill_on_hard=kill_on_hard_limit)
        self._gate = FlowGate(admission.tasks, limiter)  # flow control: rate and concurrency limits
        #: Tasks still running when ``run()`` returned (after a stop-now or the timeout).
        self.abandoned = 0
        fair = any(task.options.fair_key is not None for task in admission.tasks.values())
        self._steering = Steering(spec, self.queues, board, limiter if fair else None)  # pauses, fair shares

    def stop(self, *, now: bool = False) -> None:
        """Stop fetching; let running tasks finish (unless ``now``), acknowledge them, return.

        With ``now`` (or once ``shutdown_timeout`` runs out) ``run()`` returns without waiting;
        the unfinished messages stay unacknowledged and the broker delivers them again.
        """
        self._stopping.set()
        if now:
            self._stop_now.set()
        self._done_event.set()
        self._slots.wake()

    def run(self) -> None:
        """Consume until ``stop()`` (or, in burst mode, until the queues are empty).

        Raises:
            TransportError: the broker stayed unreachable for longer than ``RECONNECT_FOR``.
        """
        self._worker_id = outcomes.worker_name()
        self._writer.start()
        self._slots.start()
        try:
            self._steering.apply(self._subscriber)  # a paused queue is not consumed even for a moment
            try:
                self._subscriber.open()
            except TransportError as exc:  # a broker still starting: keep trying for a while
                reconnect(self._subscriber, self._stopping, exc)
            logger.info("consuming %s with %d slots", ", ".join(self.queues), self.slots)
            while not self._stopping.is_set():
                try:
                    self._step()
                except TransportError as exc:
                    reconnect(self._subscriber, self._stopping, exc)
        finally:
            self._finish()

    def _step(self) -> None:
        self._acknowledge_done()
        self._replace_dead_slots()
        self._steering.apply(self._subscriber)  # queues paused in the database, fair sub-queues
        self._subscriber.heartbeat()  # renews leases of running tasks, services AMQP heartbeats
        prefetch = self.slots + self._pace.window()
        if prefetch != self._subscriber.prefetch:
            self._subscriber.set_prefetch(prefetch)
        if self._in_flight >= prefetch:
            self._done_event.wait(IDLE_WAIT)
            self._done_event.clear()
            return
        idle_wait = BURST_WAIT if self.burst else IDLE_WAIT
        arrived = self._subscriber.drain(BUSY_WAIT if self._in_flight else idle_wait)
        if (
            self.burst
            and not arrived
            and self._in_flight == 0
            and not any(self._subscriber.queue_sizes().values())
        ):
            logger.info("queues are empty, burst done")
            self._stopping.set()

    def _receive(self, delivery: Delivery) -> None:
        self._in_flight += 1
        try:
            message = self._admission.admit(delivery)
        except Poison as poison:
            self._dead_letter(delivery, poison)
            return
        tasklog.received(message)
        self._slots.put(message, delivery)

    def _skip(self, message: TaskMessage, delivery: Delivery) -> None:
        tasklog.skipped(message)
        self._committed(delivery, True)

    def _replace_dead_slots(self) -> None:
        """A slot thread that died is replaced (see ``Slots.replace_dead``)."""
        if not self._stopping.is_set():
            self._slots.replace_dead(self._slot_died, self._committed)

    def _slot_died(self, message: TaskMessage, delivery: Delivery, reason: str) -> None:
        self._writer.finished(outcomes.failed(message, self._worker_id, "WorkerSlotDied", reason), delivery)

    def _claim(self, batch: list[tuple[TaskMessage, Delivery]]) -> set[str]:
        now = time.time()
        starts = [
            Started(m.id, m.attempt + 1, self._worker_id, now, m.task, m.queue, m.copy or "")
            for m, _ in batch
        ]
        try:
            return self._recorder.claim(starts)
        except Exception as exc:  # noqa: BLE001 - unknown: run them (at least once beats at most once)
            logger.warning("could not mark %d task(s) started, running them anyway: %s", len(batch), exc)
            return {start.task_id for start in starts}

    def _pool(self, asyncio_pool: bool, recorder: ResultRecorder) -> Slots | AsyncPool:
        if not asyncio_pool:
            return Slots(
                self.slots, self._pace, self._stopping, self._claim, self._run_task, self._skip, self._admit
            )
        calls = PoolCalls(
            self._admit, self._claim, self._run_task, self._skip, self._ended,
            self._slot_died, self._committed, recorder.terminated, self._observer,
        )  # fmt: skip
        return AsyncPool(self.slots, self._stopping, self._admission.tasks, calls)

    def _run_task(self, message: TaskMessage, delivery: Delivery) -> None:
        observer = self._observer
        if observer is not None:  # Metrics hook (see WorkerObserver)
            observer.task_started(message)
        began = time.perf_counter()
        try:
            outcome = self._limits.run(self._admission.tasks[message.task], message, self._worker_id)
        except ResultStoreError as exc:
            # An atomic task's transaction did not commit: its writes are undone; it runs again.
            logger.error("task %s: its transaction did not commit, it will run again: %s", message.id, exc)
            self._committed(delivery, False)
            return
        self._ended(message, delivery, outcome, time.perf_counter() - began)

    def _ended(self, message: TaskMessage, delivery: Delivery, outcome: Outcome, ran: float) -> None:
        """Hand on the outcome of a run (a RETRY publishes the next attempt first)."""
        self._pace.ran(ran)
        self._gate.ran(message.task, ran)  # flow control: paces tasks waiting on a concurrency limit
        if self._observer is not None:  # Metrics hook
            self._observer.task_finished(message, outcome)
        if outcome.state == RETRY and not self._retries.publish(message, outcome):
            self._committed(delivery, False)  # this attempt's message goes back and runs again
            return
        tasklog.finished(outcome, ran)
        self._writer.finished(outcome, delivery)

    def _admit(self, batch: list[tuple[TaskMessage, Delivery]]) -> list[tuple[TaskMessage, Delivery]]:
        """Flow control: the tasks of a batch that may run now (the others wait in the broker)."""
        batch = one_copy_each(batch, self._committed)
        if not self._gate.limits(batch):
            return batch
        return defer_over_limit(self._gate, self._retries, batch, self._committed)

    def _dead_letter(self, delivery: Delivery, poison: Poison) -> None:
        """Move a message no worker should run aside, and record why (see ``dead_letter``)."""
        dead_letter(self._subscriber, self._writer, self._worker_id, delivery, poison, self._committed)

    def _committed(self, delivery: Delivery, committed: bool) -> None:
        self._done.append((delivery, committed))
        self._done_event.set()

    def _acknowledge_done(self) -> None:
        if not self._done:
            return
        acks: list[Delivery] = []
        while self._done:
            delivery, committed = self._done.popleft()
            self._in_flight -= 1
            if committed:
                acks.append(delivery)
                continue
            try:
                self._subscriber.requeue(delivery)
            except Exception as exc:  # noqa: BLE001 - its connection is gone; the broker redelivers it
                logger.warning("could not give a delivery back, the broker will redeliver it: %s", exc)
        try:
            self._subscriber.acknowledge(acks)
            self._subscriber.flush()
        except Exception as exc:  # noqa: BLE001 - the connection is gone; the broker redelivers them
            logger.warning(
                "could not acknowledge %d deliveries, the broker will redeliver them: %s", len(acks), exc
            )

    def _finish(self) -> None:
        """Give back what no slot took, wait for running tasks (bounded), ack, close the connection."""
        self._stopping.set()
        unstarted = self._slots.take_unstarted()
        for _, delivery in unstarted:
            self._committed(delivery, False)
        deadline = time.monotonic() + self.shutdown_timeout
        while self._in_flight > 0 and not self._stop_now.is_set() and time.monotonic() < deadline:
            self._done_event.wait(0.1)
            self._done_event.clear()
            self._acknowledge_done()
            self._subscriber.heartbeat()
        self.abandoned = self._in_flight
        if self._in_flight > 0:
            logger.warning(
                "stopping with %d task(s) unfinished; the broker delivers them again", self._in_flight
            )
        else:
            self._writer.stop()
            self._acknowledge_done()
        self._subscriber.close()  # anything still unacknowledged goes back to the queue
        self._slots.close()
        self._retries.close()
        self._steering.stop()  # stop reading the pause rows and the fair sub-queues
