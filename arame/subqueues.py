"""Sub-queues (fair shares): a task with a ``fair_key`` goes to a sub-queue of its queue per key value.

The naming is shared by the core: a dead letter, an app's scope and a requeue find a
sub-queue's queue by its name alone.

Workers consume a queue and every active sub-queue of it through the broker's round-robin over
the queues they consume, so a key value with a huge backlog holds one turn in the rotation,
not the whole queue. The name of a sub-queue is ``<queue>.fair.<key, shortened>-<hash>``; a
registry of the active ones lives in the results database (``arame.coordination.fair_queues``).
"""

from __future__ import annotations

import hashlib
import re

from arame.errors import ConfigurationError
from arame.message import MAX_NAME_LENGTH

MARK = ".fair."
_READABLE = 24  # characters of the key value kept in the name, for people reading queue lists
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_NAME = re.compile(r"^(.+)\.fair\.[A-Za-z0-9_-]*-[0-9a-f]{12}$")


def fair_queue(queue: str, key: str) -> str:
    """The sub-queue of ``queue`` for key value ``key``.

    Raises:
        ConfigurationError: ``queue`` is too long to carry a sub-queue's suffix.
    """
    digest = hashlib.sha256(f"{queue}\x00{key}".encode()).hexdigest()[:12]
    room = MAX_NAME_LENGTH - len(queue) - len(MARK) - len(digest) - 1
    if room < 0:
        raise ConfigurationError(
            f"queue {queue[:40]!r}...: a queue of a task with fair_key has at most "
            f"{MAX_NAME_LENGTH - len(MARK) - len(digest) - 1} characters"
        )
    readable = _UNSAFE.sub("_", key)[: min(room, _READABLE)]
    return f"{queue}{MARK}{readable}-{digest}"


def fair_parent(queue: str) -> str | None:
    """The queue a sub-queue belongs to, or ``None`` for a queue that is not a fair sub-queue."""
    if MARK not in queue:  # the common case costs one substring search
        return None
    match = _NAME.match(queue)
    return match.group(1) if match else None
