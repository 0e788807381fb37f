"""Dead-lettering: a message no worker should run is moved aside, and its row says why."""

from __future__ import annotations

import logging
from collections.abc import Callable

from arame.consumers import outcomes
from arame.consumers.admission import Poison
from arame.consumers.writer import OutcomeWriter
from arame.errors import TransportError
from arame.transport import Delivery, Subscriber

logger = logging.getLogger(__name__)


def dead_letter(
    subscriber: Subscriber,
    writer: OutcomeWriter,
    worker_id: str,
    delivery: Delivery,
    poison: Poison,
    settle: Callable[[Delivery, bool], None],
) -> None:
    """Move ``delivery`` to its dead-letter queue, record why when it has an id, then settle it.

    Args:
        subscriber: moves the message aside.
        writer: records the refusal on the row the message owns (never another's).
        worker_id: ``host:pid`` of this worker, for the row.
        delivery: the refused message.
        poison: why it was refused.
        settle: ``(delivery, committed)``: acknowledged when ``True``, given back when ``False``.
    """
    logger.error("moving a message from %r to its dead-letter queue: %s", delivery.queue, poison)
    try:
        subscriber.dead_letter(delivery, f"{poison.kind}: {poison.reason}")
    except TransportError as error:
        logger.error("%s; the message goes back to the queue", error)
        settle(delivery, False)
        return
    if poison.task_id is None:
        settle(delivery, True)  # nothing to record it under; the copy keeps it
        return
    outcome = outcomes.refused(
        poison.task_id,
        poison.task_name,
        delivery.queue,
        worker_id,
        poison.kind,
        poison.reason,
        created=poison.created,
        attempt=poison.attempt,
    )
    writer.finished(outcome, delivery)
