"""Fanout exchanges on Redis: one PUBLISH, a copy for every bound queue being consumed then.

As in Kombu's own Redis transport, a message published to a fanout exchange goes to a pub/sub
channel (``fanout_prefix`` and the exchange's name), never into a queue. Each consumer of a bound
queue that is subscribed when it is published gets a copy; a bound queue nobody consumes then
gets nothing, and a copy has no lease and is never delivered again (at most once: the broadcast
of ``kombu.pidbox``, not a work queue). Routing keys are ignored, as a fanout exchange does on
AMQP. A consumer subscribes before ``basic_consume`` returns, so whatever is published after
that reaches it. A consumer learns which fanout exchanges its queue is bound to from the
declarations made on its connection (Kombu's ``Consumer`` declares its queues by default).
"""

from __future__ import annotations

import uuid
from typing import Any

from kombu.transport import virtual
from kombu.utils.json import dumps

from arame.errors import ConfigurationError
from arame.transport.delivery import DELIVERIES
from arame.transport.stored_messages import read_envelope

#: Kombu's default prefix of fanout topics: pub/sub ignores database numbers, the prefix names one.
DEFAULT_PREFIX = "/{db}."


def topic_prefix(option: Any, db: int) -> str:
    """The prefix of fanout topics for the ``fanout_prefix`` transport option, as Kombu reads it.

    ``True`` (the default) gives ``/{db}.``; a string is used as it is; ``False`` gives none
    (the topics of Kombu before 4, shared by every database).

    Raises:
        ConfigurationError: the option is neither a boolean nor a string.
    """
    if option is True:
        return DEFAULT_PREFIX.format(db=db)
    if option is False:
        return ""
    if isinstance(option, str):
        return option
    raise ConfigurationError(f"fanout_prefix must be true, false or a string, not {option!r}")


class FanoutChannel(virtual.Channel):
    """Channel mixin: fanout exchanges published and subscribed through pub/sub.

    The channel provides ``store`` (its ``QueueStore``) and ``fanout_prefix`` (see
    ``topic_prefix``).
    """

    supports_fanout = True
    fanout_prefix = DEFAULT_PREFIX.format(db=0)

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        """Nothing to store: consumers read the bindings declared on their own connection."""

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str, **kwargs: Any) -> None:
        self.store.client.publish(self.fanout_topic(exchange), dumps(message))  # type: ignore[attr-defined]

    def fanout_topic(self, exchange: str) -> str:
        """The pub/sub channel of the fanout exchange ``exchange``."""
        return f"{self.fanout_prefix}{exchange}"

    def fanout_topics(self, queue: str) -> set[str]:
        """The topics of the fanout exchanges ``queue`` is bound to on this connection."""
        return {
            self.fanout_topic(binding.exchange)
            for binding in self.state.queue_index.get(queue, ())
            if self.typeof(binding.exchange).type == "fanout"
        }


def fanout_copy(raw: str, queue: str) -> dict[str, Any]:
    """The Kombu message received as ``raw`` on a fanout topic, as delivered to ``queue``."""
    message = read_envelope(raw, queue)
    properties = message.setdefault("properties", {})
    # A tag of its own per copy: two bound queues on one channel must not share one.
    properties["delivery_tag"] = uuid.uuid4().hex
    properties.setdefault("delivery_info", {})["redelivered"] = False
    properties[DELIVERIES] = 1
    return message
