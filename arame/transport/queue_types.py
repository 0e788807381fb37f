"""RabbitMQ queue types: classic or quorum, chosen per app and per queue, found out on the broker.

A queue type fixes which arguments RabbitMQ accepts when the queue is declared, and RabbitMQ
refuses a declaration whose arguments differ from the queue's (``PRECONDITION_FAILED -
inequivalent arg``), closing the channel. So the first declaration of each queue in a process is
tried on a channel of its own: with the arguments of the type wanted, then of the other type, and
if the queue exists with arguments of someone else's choosing, it is used as it is (a passive
declare). What was found is remembered, so later declarations go straight to the right form.

Classic queues take arame's ten priority levels (``x-max-priority``). Quorum queues refuse that
argument: they are declared with ``x-queue-type: quorum``, a delivery limit above any
``max_deliveries`` arame accepts (``DELIVERY_LIMIT``; arame dead-letters first, with its reason),
and the broker's own dead-lettering into ``<queue>.dead`` at least once, for the day the limit is
reached anyway.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from amqp.exceptions import PreconditionFailed
from kombu.entity import Exchange, Queue

from arame.errors import ConfigurationError
from arame.message import MAX_PRIORITY

logger = logging.getLogger(__name__)

CLASSIC, QUORUM = "classic", "quorum"
QUEUE_TYPES = (CLASSIC, QUORUM)
#: Found on the broker with arguments arame did not choose: declared passively from then on.
EXISTING = "existing"
#: Broker-side delivery limit of quorum queues; ``max_deliveries`` must stay below it.
DELIVERY_LIMIT = 100
#: Dead-lettering that waits for the target queue to confirm (RabbitMQ 3.10+; needs reject-publish).
AT_LEAST_ONCE = {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
_SUFFIX = re.compile(r"(\.dead|\.delay\.\d+)$")


@dataclass(frozen=True, slots=True)
class QueueTypes:
    """Which type each queue is declared as, and what the broker was found to hold.

    Attributes:
        default: the type of every queue not named in ``per_queue``.
        per_queue: queue name -> type; a queue's ``.dead`` and delay queues follow it.
        found: queue name -> what a declaration found (filled in as queues are declared).
    """

    default: str = CLASSIC
    per_queue: Mapping[str, str] = field(default_factory=dict)
    found: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name, kind in {"queue_type": self.default, **self.per_queue}.items():
            if kind not in QUEUE_TYPES:
                raise ConfigurationError(
                    f"unknown queue type {kind!r} for {name!r}: use one of {', '.join(QUEUE_TYPES)}"
                )

    def wanted(self, name: str) -> str:
        """The type ``name`` is declared as (its own queue's, for a dead-letter or delay queue)."""
        base = _SUFFIX.sub("", name)
        return self.per_queue.get(name) or self.per_queue.get(base) or self.default

    def of(self, name: str) -> str:
        """The type ``name`` has on the broker as far as known: found, else wanted."""
        found = self.found.get(name)
        return found if found in QUEUE_TYPES else self.wanted(name)


def queue_arguments(kind: str, name: str) -> dict[str, Any]:
    """The arguments of queue ``name`` (a task queue or its ``.dead`` queue) of type ``kind``."""
    dead = name.endswith(".dead")
    if kind == CLASSIC:
        return {"x-max-priority": MAX_PRIORITY}
    if dead:
        return {"x-queue-type": QUORUM}
    return {
        "x-queue-type": QUORUM,
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": f"{name}.dead",
        **AT_LEAST_ONCE,
    }


class TypedQueue(Queue):
    """A durable Kombu queue whose declaration follows its type and what the broker holds.

    Args:
        name: the queue.
        types: the app's choice, and the record of what was found.
        arguments: the declaration arguments for each type.
    """

    def __init__(self, name: str, types: QueueTypes, arguments: Mapping[str, dict[str, Any]]) -> None:
        self.types = types
        self.arguments_by_type = dict(arguments)
        super().__init__(name, exchange=Exchange(""), routing_key=name, durable=True)

    def __copy__(self) -> TypedQueue:  # Kombu binds a queue to a channel by copying it
        return TypedQueue(self.name, self.types, self.arguments_by_type)

    def queue_declare(self, nowait: bool = False, passive: bool = False, channel: Any = None) -> Any:
        """Declare the queue in the form found to fit, finding it out on first use."""
        channel = channel or self.channel
        kind = self.types.found.get(self.name) or self._find(channel)
        if kind == EXISTING:
            return channel.queue_declare(queue=self.name, passive=True)
        if "x-delivery-limit" in self.arguments_by_type[kind]:
            # The broker dead-letters into it once the delivery limit is reached: it must exist.
            TypedQueue(f"{self.name}.dead", self.types, _dead_arguments()).queue_declare(channel=channel)
        self.queue_arguments = self.arguments_by_type[kind]
        return super().queue_declare(nowait=nowait, passive=passive, channel=channel)

    def _find(self, channel: Any) -> str:
        """Declare on channels of its own until a form fits; remember and return it."""
        wanted = self.types.wanted(self.name)
        tries = [wanted, *(kind for kind in QUEUE_TYPES if kind != wanted)]
        refusal: PreconditionFailed | None = None
        for kind in [*tries, EXISTING]:
            probe = channel.connection.channel()
            try:
                if kind == EXISTING:
                    probe.queue_declare(queue=self.name, passive=True)
                else:
                    args = self.arguments_by_type[kind]
                    probe.queue_declare(queue=self.name, durable=True, auto_delete=False, arguments=args)
            except PreconditionFailed as exc:
                refusal = refusal or exc
                continue
            finally:
                with contextlib.suppress(Exception):
                    probe.close()
            return self._found(kind, wanted, refusal)
        raise ConfigurationError(f"could not declare queue {self.name!r}: {refusal}")

    def _found(self, kind: str, wanted: str, refusal: PreconditionFailed | None) -> str:
        text = str(refusal or "")
        if "'x-queue-type'" in text and "'stream'" in text:
            raise ConfigurationError(
                f"queue {self.name!r} is a stream on the broker: arame consumes classic or quorum "
                "queues; give the tasks another queue"
            )
        if kind != wanted:
            logger.warning(
                "queue %r exists on the broker as %s; arame uses it as it is (wanted: %s). "
                "To change it: arame queues migrate --to %s %s",
                self.name,
                kind if kind != EXISTING else "a queue declared with other arguments",
                wanted,
                wanted,
                self.name,
            )
        self.types.found[self.name] = kind
        return kind


def _dead_arguments() -> dict[str, dict[str, Any]]:
    return {kind: queue_arguments(kind, "x.dead") for kind in QUEUE_TYPES}
