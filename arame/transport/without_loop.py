"""Refusing Kombu's event loop on transports that cannot serve it (SQL, ``memory://``)."""

from __future__ import annotations

from typing import Any, ClassVar

from arame.errors import ConfigurationError


class WithoutEventLoop:
    """Transport mixin: registering with an event loop fails at once, with a clear error.

    Kombu's virtual transports accept ``register_with_event_loop`` and do nothing, so a consumer
    driven by ``kombu.asynchronous.Hub`` waits forever for messages that are there. These
    transports deliver only from ``drain_events`` (a fetch that blocks, or a database's NOTIFY
    read on its own connection), so they say so instead.
    """

    loop_name: ClassVar[str] = "this"

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        """Refuse (Kombu's signature).

        Raises:
            ConfigurationError: always.
        """
        raise ConfigurationError(
            f"the {self.loop_name} transport cannot be driven by an event loop "
            "(kombu.asynchronous.Hub): consume with Connection.drain_events(), "
            "or use Redis (redis://) or RabbitMQ (amqp://)"
        )
