"""PostgreSQL brokers wake idle consumers by LISTEN/NOTIFY, or poll when told not to (PgBouncer)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from arame.transport import parse_broker_url
from arame.transport.publisher import Publisher
from tests.cleanup import queue_removed_after
from tests.helpers import Inbox

POSTGRES_URL = "postgresql://127.0.0.1:5432/test"

pytestmark = pytest.mark.postgres


@pytest.fixture
def queue() -> Iterator[str]:
    yield from queue_removed_after(POSTGRES_URL, POSTGRES_URL)


@pytest.mark.parametrize("listen", [True, False])
def test_an_idle_consumer_receives_at_once_with_or_without_listen(queue: str, listen: bool) -> None:
    spec = parse_broker_url(POSTGRES_URL, {"listen": listen})
    inbox = Inbox(spec, [queue], prefetch=10)
    publisher = Publisher(spec)
    try:
        inbox.subscriber.drain(0.2)  # idle: waiting on a NOTIFY, or polling
        published = time.time()
        publisher.publish(json.dumps("hello"), queue)
        assert inbox.receive(1, within=5) and inbox.bodies() == ["hello"]
        assert inbox.arrived[0] - published < 0.5
        transport = inbox.subscriber._connection.transport  # type: ignore[union-attr]
        assert (transport._listener is not None) is listen  # no LISTEN connection when listen=False
    finally:
        publisher.close()
        inbox.subscriber.close()
