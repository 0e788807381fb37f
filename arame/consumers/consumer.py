"""Consumer: fetch -> dispatch -> record -> ack, for one process."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from arame.consumers.execute import execute
from arame.consumers.recorder import ResultRecorder
from arame.consumers.writer import OutcomeWriter
from arame.errors import MessageError, TransportError
from arame.message import TaskMessage
from arame.states import FAILURE, Outcome, Started
from arame.task import Task
from arame.transport import BrokerSpec, Delivery, Subscriber

logger = logging.getLogger(__name__)

IDLE_WAIT = 0.5  # seconds a drain blocks when nothing is running; bounds how late stop() is seen
BURST_WAIT = 0.02  # a burst worker looks at the queue sizes after this much quiet
BUSY_WAIT = 0.005  # while tasks run, drains are short so their acks go out promptly
RECONNECT_FOR = 60.0  # seconds to keep reconnecting before the consumer gives up


def worker_name() -> str:
    """``host:pid`` of this process, recorded on each row it writes."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Consumer:
    """Runs tasks from queues on ``slots`` threads, acknowledging each after its outcome commits.

    The draining thread owns the broker connection: it receives deliveries, hands them to the
    slots, and acknowledges them once the writer reports their outcomes committed. The broker
    hands over at most ``slots`` unacknowledged messages, so none waits behind a busy slot.

    Args:
        spec: the broker.
        queues: queues to consume.
        tasks: the registry, name -> Task.
        recorder: where outcomes are committed.
        slots: how many tasks run at once.
        burst: return from ``run()`` once the queues are empty and nothing runs.
    """

    def __init__(
        self,
        spec: BrokerSpec,
        queues: Sequence[str],
        tasks: Mapping[str, Task[Any, Any]],
        recorder: ResultRecorder,
        *,
        slots: int = 1,
        burst: bool = False,
    ) -> None:
        self.queues = list(queues)
        self.slots = slots
        self.burst = burst
        self._tasks = tasks
        self._subscriber = Subscriber(spec, self.queues, slots, self._receive)
        self._recorder = recorder
        self._writer = OutcomeWriter(recorder, self._committed)
        self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="arame-slot")
        self._done: deque[tuple[Delivery, bool]] = deque()
        self._done_event = threading.Event()
        self._stopping = threading.Event()
        self._in_flight = 0
        self._worker = worker_name()

    def stop(self) -> None:
        """Ask ``run()`` to stop fetching, finish running tasks, acknowledge them and return."""
        self._stopping.set()
        self._done_event.set()

    def run(self) -> None:
        """Consume until ``stop()`` (or, in burst mode, until the queues are empty).

        Raises:
            TransportError: the broker stayed unreachable for longer than ``RECONNECT_FOR``.
        """
        self._worker = worker_name()
        self._writer.start()
        try:
            self._subscriber.open()
            logger.info("consuming %s with %d slots", ", ".join(self.queues), self.slots)
            while not self._stopping.is_set():
                try:
                    self._step()
                except TransportError as exc:
                    self._reconnect(exc)
        finally:
            self._finish()

    def _step(self) -> None:
        self._acknowledge_done()
        if self._in_flight >= self.slots:
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
            message = TaskMessage.from_body(delivery.decode())
        except MessageError as exc:
            self._refuse(delivery, exc)
            return
        self._pool.submit(self._run_task, message, delivery)

    def _run_task(self, message: TaskMessage, delivery: Delivery) -> None:
        if delivery.redelivered and self._already_finished(message.id):
            logger.info("task %s was redelivered but has already finished; not running it again", message.id)
            self._committed(delivery, True)
            return
        self._writer.started(Started(message.id, message.attempt + 1, self._worker, time.time()))
        self._writer.finished(execute(self._tasks, message, self._worker), delivery)

    def _already_finished(self, task_id: str) -> bool:
        try:
            return self._recorder.is_finished(task_id)
        except Exception as exc:  # noqa: BLE001 - unknown: run it (at least once beats at most once)
            logger.warning("could not check whether task %s already finished: %s", task_id, exc)
            return False

    def _refuse(self, delivery: Delivery, exc: MessageError) -> None:
        """Move a message that cannot be read aside, record it when it has an id, then ack it."""
        task_id = _id_of(delivery)
        logger.error("moving a malformed message from %r to its dead-letter queue: %s", delivery.queue, exc)
        try:
            self._subscriber.dead_letter(delivery, exc.reason)
        except TransportError as error:
            logger.error("%s; the message goes back to the queue", error)
            self._committed(delivery, False)
            return
        if task_id is None:
            self._committed(delivery, True)  # nothing to record it under; the copy keeps it
            return
        outcome = Outcome(
            task_id,
            "?",
            delivery.queue,
            FAILURE,
            error_type="MalformedMessage",
            error_message=exc.reason,
            worker=self._worker,
            finished_at=time.time(),
        )
        self._writer.finished(outcome, delivery)

    def _committed(self, delivery: Delivery, committed: bool) -> None:
        self._done.append((delivery, committed))
        self._done_event.set()

    def _acknowledge_done(self) -> None:
        while self._done:
            delivery, committed = self._done.popleft()
            self._in_flight -= 1
            try:
                delivery.ack() if committed else delivery.requeue()
            except Exception as exc:  # noqa: BLE001 - its connection is gone; the broker redelivers it
                logger.warning("could not settle a delivery, the broker will redeliver it: %s", exc)

    def _reconnect(self, cause: TransportError) -> None:
        delay, deadline = 0.1, time.monotonic() + RECONNECT_FOR
        logger.warning("%s; reconnecting", cause)
        while not self._stopping.is_set():
            time.sleep(delay)
            try:
                self._subscriber.open()
                logger.info("reconnected to the broker")
                return
            except TransportError as exc:
                if time.monotonic() > deadline:
                    raise TransportError(
                        f"gave up reconnecting after {RECONNECT_FOR:.0f}s: {exc}", url=exc.url
                    ) from exc
                delay = min(delay * 2, 5.0)

    def _finish(self) -> None:
        self._pool.shutdown(wait=True)  # running tasks finish; their outcomes reach the writer
        deadline = time.monotonic() + 60.0
        while self._in_flight > 0 and time.monotonic() < deadline:
            self._done_event.wait(0.1)
            self._done_event.clear()
            self._acknowledge_done()
        self._writer.stop()
        self._acknowledge_done()
        self._subscriber.close()


def _id_of(delivery: Delivery) -> str | None:
    try:
        body = delivery.decode()
    except MessageError:
        return None
    task_id = body.get("id") if isinstance(body, dict) else None
    return task_id if isinstance(task_id, str) and task_id else None
