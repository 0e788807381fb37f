"""Running tasks again from their rows: dead-letter requeue, retry, and reconcile after a broker lost data.

The results row carries the task's message (see ``ResultStore.add_pending``); what is published
again is built from it, with the attempt count the row records, so the next attempt continues it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from arame import states
from arame.canvas.workflow_retry import reopen_followers, retry_workflow
from arame.errors import TaskStateError
from arame.message import TaskMessage, new_copy_id
from arame.producers import Producer
from arame.results import (
    RETRYABLE,
    AsyncResult,
    ResultRow,
    ResultStore,
    count_pending_since,
    pending_before,
    reopen,
    still_pending,
)
from arame.transport import BrokerSpec, DeadLetter, held_task_ids, queue_idle, requeue_dead

logger = logging.getLogger(__name__)

#: Seconds a PENDING row must be past its creation (or eta) before reconcile calls it lost,
#: where the broker can only tell that a queue is idle (RabbitMQ).
RECONCILE_GRACE = 300.0
#: The same where the broker lists the task ids it holds (Redis, SQL): the grace need only
#: cover the moment between a row's commit and its publish (a batch, the publish's retries).
RECONCILE_GRACE_BY_ID = 10.0


def default_grace(spec: BrokerSpec) -> float:
    """The grace reconcile gives a PENDING row on this broker (see the two constants above)."""
    return RECONCILE_GRACE_BY_ID if spec.capabilities.leases else RECONCILE_GRACE


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What a reconcile did and did not judge.

    Attributes:
        republished: the ids published again.
        too_young: PENDING rows (with their message) not judged: created, or due, within ``grace``.
        unprovable: old enough, but the broker cannot tell whether it holds them (RabbitMQ with
            a consumer or a message in the queue).
        grace: the grace given, in seconds.
    """

    republished: list[str]
    too_young: int
    unprovable: int
    grace: float


def requeue_dead_letters(store: ResultStore, spec: BrokerSpec, queue: str, task_id: str | None) -> list[str]:
    """Publish dead letters of ``queue`` back, each row reopened to PENDING first; return their ids."""
    requeued: list[str] = []

    def reopen_row(letter: DeadLetter) -> None:
        if letter.task_id is not None:
            # Before the publish: a worker may take the message at once, and must find it runnable.
            if reopen(store, letter.task_id, (states.FAILURE,)):
                reopen_followers(store, letter.task_id)  # workflows: a chord it failed waits again
            requeued.append(letter.task_id)

    requeue_dead(spec, queue, task_id, before=reopen_row)
    return requeued


def retry_task(store: ResultStore, producer: Producer, task_id: str) -> None:
    """Run a FAILURE or REVOKED task again from its row: same id, attempts continuing.

    Raises:
        TaskStateError: the id is unknown, its row has no message, or it is not FAILURE/REVOKED.
        ResultStoreError, PublishError: the database or the broker failed (a row reopened but not
            published stays PENDING, and a reconcile publishes it).
    """
    # Workflows (arame/canvas/workflow_retry.py): only the failed tasks and the steps not yet run, run again.
    if retry_workflow(store, task_id, lambda member: _retry_one(store, producer, member)):
        return
    _retry_one(store, producer, task_id)


def _retry_one(store: ResultStore, producer: Producer, task_id: str) -> None:
    row = store.read(task_id)
    if row is None:
        raise TaskStateError(f"no task {task_id} in the results table", task_id=task_id, state=states.UNKNOWN)
    if row.message is None:
        raise TaskStateError(
            f"task {task_id} has no stored message to run again from", task_id=task_id, state=row.state
        )
    if row.state not in RETRYABLE or not reopen(store, task_id, RETRYABLE):
        state = store.state_of(task_id) or row.state
        raise TaskStateError(
            f"task {task_id} is {state}; only a FAILURE or REVOKED task can be retried",
            task_id=task_id,
            state=state,
        )
    now = time.time()
    expires = row.message.expires if row.message.expires is not None and row.message.expires > now else None
    # A copy of its own: the first may still wait in the broker (a revoked task), and of the
    # two only the one whose claim wins runs.
    again = replace(row.message, attempt=row.attempts, eta=None, expires=expires, copy=new_copy_id())
    producer.publish(again)
    logger.info("task %s (%s) published again for attempt %d", task_id, row.task_name, row.attempts + 1)


def reconcile(
    store: ResultStore,
    producer: Producer,
    spec: BrokerSpec,
    queues: Sequence[str],
    older_than: float | None = None,
) -> Reconciled:
    """Publish again the PENDING tasks of ``queues`` whose message the broker no longer holds.

    Only those queues: a results database may be shared by apps on other brokers, whose rows
    this broker cannot speak for. Returns the ids published again.

    A row counts as lost when it is older than ``older_than`` seconds (counted from the later
    of its creation and its eta; default: ``default_grace(spec)``) and the broker provably does
    not hold its message: by task id on the Redis and SQL transports, or, on RabbitMQ, because
    the queue is idle (no message, no consumer). Where the broker can tell neither, nothing is
    published.
    """
    grace = default_grace(spec) if older_than is None else older_than
    now = time.time()
    cutoff = now - grace
    since = datetime.fromtimestamp(cutoff, UTC)
    old = [(row, row.message.eta or 0.0) for row in pending_before(store, since, queues) if row.message]
    rows = [row for row, eta in old if eta < cutoff]
    due_lately = sum(cutoff <= eta <= now for _row, eta in old)  # created long ago, due only lately
    by_queue: dict[str, list[ResultRow]] = {}
    for row in rows:
        by_queue.setdefault(row.queue, []).append(row)
    republished: list[str] = []
    unprovable = 0
    for queue, queued in by_queue.items():
        published = _reconcile_queue(store, producer, spec, queue, queued, now)
        if published is None:
            unprovable += len(queued)
        else:
            republished += published
    too_young = count_pending_since(store, since, queues) + due_lately
    return Reconciled(republished, too_young, unprovable, grace)


def _reconcile_queue(
    store: ResultStore,
    producer: Producer,
    spec: BrokerSpec,
    queue: str,
    rows: Sequence[ResultRow],
    now: float,
) -> list[str] | None:
    """The ids of ``rows`` published again; ``None``: the broker cannot tell which it lost."""
    held = held_task_ids(spec, queue)
    if held is None and not queue_idle(spec, queue):
        return None
    lost = [row for row in rows if held is None or row.id not in held]
    # Read again after the broker answered: a row finished meanwhile was not lost.
    pending = still_pending(store, [row.id for row in lost]) if lost else set()
    messages = [_again(row, now) for row in lost if row.id in pending]
    if messages:
        producer.publish_many(messages)
        logger.warning("published %d lost task(s) of queue %s again", len(messages), queue)
    return [message.id for message in messages]


def _again(row: ResultRow, now: float) -> TaskMessage:
    assert row.message is not None
    eta = row.message.eta if row.message.eta is not None and row.message.eta > now else None
    # A copy of its own: should the broker still hold the first after all, only one of them runs.
    return replace(row.message, attempt=row.attempts, eta=eta, copy=new_copy_id())


class _Recoverable(Protocol):
    broker: BrokerSpec

    @property
    def results(self) -> ResultStore: ...

    @property
    def producer(self) -> Producer: ...

    def queues(self) -> list[str]: ...


class RecoveryVerbs:
    """The App's verbs that publish tasks again from their rows (``App`` inherits them)."""

    def retry(self: _Recoverable, task_id: str) -> AsyncResult:
        """Run a FAILURE or REVOKED task again from its row: same id, attempts continuing.

        Raises:
            TaskStateError: unknown id, no stored message, or not FAILURE/REVOKED.
        """
        retry_task(self.results, self.producer, task_id)
        return AsyncResult(task_id, self.results)

    def requeue_dead(self: _Recoverable, queue: str, task_id: str | None = None) -> list[str]:
        """Publish the dead letters of ``queue`` (or the one of ``task_id``) back, their rows PENDING again.

        Returns:
            The task ids requeued (a letter without a readable id goes back without a row).
        """
        return requeue_dead_letters(self.results, self.broker, queue, task_id)

    def reconcile(
        self: _Recoverable, older_than: float | None = None, queues: Sequence[str] | None = None
    ) -> list[str]:
        """Publish again the PENDING tasks the broker lost; return their ids.

        Args:
            older_than: seconds a PENDING row must be past its creation (or eta) to count as
                lost; default: 10 on Redis and SQL brokers, which list the ids they hold, 300
                elsewhere (``default_grace``).
            queues: the queues to look at; default: this app's (``queues()``).
        """
        queues = queues or self.queues()
        return reconcile(self.results, self.producer, self.broker, queues, older_than).republished
