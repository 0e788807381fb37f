"""Which exchange types arame's transports deliver, and refusing the others at declaration."""

from __future__ import annotations

from typing import Any, ClassVar

from arame.errors import ConfigurationError


class DeliveredExchanges:
    """Channel mixin: declaring an exchange of a type the transport does not deliver fails.

    Kombu's virtual fanout needs pub/sub the transport may not implement (Redis does, see
    ``redis_queue.fanout``; SQL does not), and a headers exchange has no virtual implementation
    at all; either declares fine and then loses every message published to it. Direct and topic
    exchanges route through a binding table kept on the declaring connection, as on Kombu's
    virtual transports.
    """

    transport_name: ClassVar[str] = "this"
    delivered_exchanges: ClassVar[frozenset[str]] = frozenset({"direct", "topic"})

    def exchanges_delivered(self) -> frozenset[str]:
        """The exchange types this channel delivers (``delivered_exchanges`` unless it depends)."""
        return self.delivered_exchanges

    def exchange_declare(
        self,
        exchange: str | None = None,
        type: str = "direct",  # noqa: A002 - Kombu's name
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Declare ``exchange`` (Kombu's signature).

        Raises:
            ConfigurationError: this transport would drop what is published to such an exchange.
        """
        kind = type or "direct"
        delivered = self.exchanges_delivered()
        if kind not in delivered:
            raise ConfigurationError(
                f"the {self.transport_name} transport does not deliver {kind!r} exchanges "
                f"(exchange {exchange!r}): messages published to it would be lost; use "
                f"{' or '.join(sorted(delivered))}, or RabbitMQ (amqp://)"
            )
        super().exchange_declare(exchange, kind, *args, **kwargs)  # type: ignore[misc]
