"""Consumer: fetch -> dispatch -> record -> ack, for one process."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from arame.consumers import outcomes, tasklog
from arame.consumers.admission import Admission, Poison, one_copy_each
from arame.consumers.aiopool import AsyncPool
from arame.consumers.aiorun import PoolCalls
from arame.consumers.dead_lettering import dead_letter
from arame.consumers.deferral import Deferring
from arame.consumers.pace import Pace
from arame.consumers.reconnect import reconnect
from arame.consumers.recorder import ResultRecorder
from arame.consumers.retry_publisher import RetryPublisher
from arame.consumers.slots import Slots
from arame.consumers.time_limits import TimeLimits
from arame.consumers.worker_settings import WorkerSettings
from arame.consumers.writer import OutcomeWriter
from arame.errors import ResultStoreError, TransportError
from arame.message import TaskMessage
from arame.states import RETRY, Outcome, Started
from arame.transport import BrokerSpec, Delivery, Subscriber

logger = logging.getLogger(__name__)

IDLE_WAIT = 0.5  # seconds a drain blocks when nothing is running; bounds how late stop() is seen
BURST_WAIT = 0.02  # a burst worker looks at the queue sizes after this much quiet
BUSY_WAIT = 0.005  # while tasks run, drains are short so their acks go out promptly


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
        admission: the registry and the checks a message passes before it runs.
        recorder: where outcomes are committed.
        settings: the worker's; a consumer runs ``settings.slots_per_consumer`` tasks at once,
            and a task past its hard time limit ends a process-pool child instead of being
            interrupted inside its thread.
    """

    def __init__(
        self, spec: BrokerSpec, admission: Admission, recorder: ResultRecorder, settings: WorkerSettings
    ) -> None:
        self.queues = list(settings.queues)
        self._extensions = settings.extensions
        self.slots = settings.slots_per_consumer
        self.burst = settings.burst
        self.shutdown_timeout = settings.shutdown_timeout
        self._admission = admission
        self._subscriber = Subscriber(spec, self.queues, self.slots, self._receive)
        self._recorder = recorder
        self._writer = OutcomeWriter(recorder, self._committed)
        self._pace = Pace()
        self._done: deque[tuple[Delivery, bool]] = deque()
        self._done_event = threading.Event()
        self._stopping = threading.Event()
        self._stop_now = threading.Event()
        self._slots = self._pool(settings.pool == "asyncio", recorder)
        self._in_flight = 0
        self._worker_id = outcomes.worker_name()
        self._retries = RetryPublisher(spec, admission.signer)
        self._limits = TimeLimits(
            recorder, kill_on_hard=settings.pool == "process", extensions=settings.extensions
        )
        self._defer = Deferring(self._retries, self._committed)
        # The message each delivery with an outcome carried, until its ack: only if an extension
        # acts after the ack (see ``Extension.after_ack``); else nothing is kept per task.
        self._carried: dict[Delivery, TaskMessage] | None = None
        if self._extensions.using("after_ack"):
            self._carried = {}
        #: Tasks still running when ``run()`` returned (after a stop-now or the timeout).
        self.abandoned = 0
        self._steering = self._extensions.steering(spec, self.queues)

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
            self._steer()  # a paused queue is not consumed even for a moment
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
        self._steer()
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

    def _steer(self) -> None:
        """Let the extensions choose the queues consumed (see ``Extension.steering``)."""
        for steering in self._steering:
            steering.apply(self._subscriber)

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
            self._slot_died, self._committed, recorder.terminated,
        )  # fmt: skip
        return AsyncPool(self.slots, self._stopping, self._admission.tasks, calls, self._extensions)

    def _run_task(self, message: TaskMessage, delivery: Delivery) -> None:
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
        self._extensions.after_execution(message, outcome, ran)
        if outcome.state == RETRY and not self._retries.publish(message, outcome):
            self._committed(delivery, False)  # this attempt's message goes back and runs again
            return
        tasklog.finished(outcome, ran)
        if self._carried is not None:  # an extension acts after the ack: it is told the message
            self._carried[delivery] = message
        self._writer.finished(outcome, delivery)

    def _admit(self, batch: list[tuple[TaskMessage, Delivery]]) -> list[tuple[TaskMessage, Delivery]]:
        """The tasks of a batch that may run now: one copy of each, and those no extension
        holds back (those wait in the broker, see ``Deferring``)."""
        return self._extensions.before_claim(one_copy_each(batch, self._committed), self._defer)

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
            if self._carried is not None:
                self._carried.pop(delivery, None)
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
            acknowledged = False
        else:
            acknowledged = True
        if self._carried is not None:
            self._after_ack(acks, acknowledged)

    def _after_ack(self, acks: list[Delivery], acknowledged: bool) -> None:
        """Tell the extensions which messages with a recorded outcome the broker has forgotten."""
        assert self._carried is not None
        messages = [message for d in acks if (message := self._carried.pop(d, None)) is not None]
        if acknowledged and messages:
            self._extensions.after_ack(messages)

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
        for steering in self._steering:
            steering.stop()
