"""RabbitMQ delay topology: TTL queues that dead-letter into the queue when the time is up.

RabbitMQ has no delayed delivery without a plugin, but a queue can expire its messages
(``x-message-ttl``) and dead-letter them (``x-dead-letter-exchange``/``-routing-key``) into another
queue. A message delayed by ``d`` goes to ``<queue>.delay.<bucket>``, where ``bucket`` is ``d``
rounded *up* to a step (so it is never early), and arrives in ``<queue>`` ``bucket`` ms later.

One TTL per queue is what makes this correct: a classic queue expires messages from its head only,
so a queue holding different TTLs would hold a short one behind a long one. With one TTL per queue,
arrival order is expiry order.

Steps grow with the delay, which bounds both the lateness rounding adds and the number of queues:

    delay         step     rounding adds at most       buckets
    < 1 s         10 ms    10 ms                       100
    < 10 s        100 ms   100 ms (10 %)               90
    < 10 min      1 s      1 s (10 %)                  590
    < 1 h         10 s     10 s (1.7 %)                300
    < 1 day       1 min    1 min (1.7 %)               1380
    up to 30 days 10 min   10 min (0.7 %)              4176

Retries with backoff (at most ``retry_backoff_max``, 600 s by default, spread by jitter) stay in
the first three rows, where seconds matter. A queue exists only while used: every delayed publish
redeclares it (Kombu never caches the declaration of an expiring queue), which restarts its
``x-expires`` clock (TTL + 1 min), so it disappears a minute after its last message left. RabbitMQ
caps a TTL at 2^32-1 ms (49 days): a longer delay waits 30 days, arrives early, and is sent back
for the rest by the subscriber (``Subscriber``), which never delivers a message before its time.
"""

from __future__ import annotations

from typing import Any

from arame.transport.queue_types import AT_LEAST_ONCE, QUEUE_TYPES, QUORUM, QueueTypes, TypedQueue

#: (delays below this many ms, round up to a multiple of this many ms), shortest first.
STEPS = (
    (1_000, 10),
    (10_000, 100),
    (600_000, 1_000),
    (3_600_000, 10_000),
    (86_400_000, 60_000),
)
LONG_STEP_MS = 600_000
MAX_BUCKET_MS = 30 * 86_400_000  # under RabbitMQ's TTL cap (2^32-1 ms), on a step
EXPIRES_AFTER_MS = 60_000  # how long an unused delay queue outlives its TTL


def bucket_ms(delay_ms: int) -> int:
    """The TTL a message delayed by ``delay_ms`` waits for: the delay rounded up to its step.

    At least one step (10 ms), at most ``MAX_BUCKET_MS``.
    """
    for below, step in STEPS:
        if delay_ms < below:
            return max(step, _round_up(delay_ms, step))
    return min(_round_up(delay_ms, LONG_STEP_MS), MAX_BUCKET_MS)


def queue_name(queue: str, bucket: int) -> str:
    """The delay queue of ``queue`` for one bucket: ``<queue>.delay.<ms>``."""
    return f"{queue}.delay.{bucket}"


def delay_queue(queue: str, bucket: int, types: QueueTypes) -> TypedQueue:
    """The durable TTL queue that holds messages for ``bucket`` ms, then hands them to ``queue``.

    Its arguments follow from its name and type alone: RabbitMQ refuses a redeclaration with
    other ones. Not a priority queue: the order it holds messages in must be the order they expire
    in. The priority property travels with the message and counts again once it reaches ``queue``.

    It has the type of ``queue``: a quorum delay queue survives the loss of a node like its queue,
    and dead-letters at least once (the message leaves it only when ``queue`` has confirmed it).
    """
    name = queue_name(queue, bucket)
    return TypedQueue(name, types, {kind: _arguments(kind, queue, bucket) for kind in QUEUE_TYPES})


def _arguments(kind: str, queue: str, bucket: int) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "x-message-ttl": bucket,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue,
        "x-expires": bucket + EXPIRES_AFTER_MS,
    }
    if kind == QUORUM:
        arguments.update({"x-queue-type": QUORUM, **AT_LEAST_ONCE})
    return arguments


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step
