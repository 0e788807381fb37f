"""An app with a few arithmetic tasks on one fresh queue, for the workflow suites."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import arame
from arame.transport import Publisher

TIMEOUT = 30


class Flow:
    """An app with a few arithmetic tasks on one fresh queue, and a worker to run them."""

    def __init__(self, broker_url: str, results_url: str, queue: str, **settings: Any) -> None:
        self.broker_url, self.results_url, self.queue = broker_url, results_url, queue
        self.app = arame.App("flow", broker=broker_url, results=results_url, **settings)
        self.attempts: dict[str, int] = {}
        app = self.app

        @app.task(name="flow.add", queue=queue)
        def add(x: int, y: int) -> int:
            return x + y

        @app.task(name="flow.mul", queue=queue)
        def mul(x: int, y: int) -> int:
            return x * y

        @app.task(name="flow.total", queue=queue)
        def total(values: list[int], extra: int = 0) -> int:
            return sum(values) + extra

        @app.task(name="flow.flaky", queue=queue)
        def flaky(x: int, key: str) -> int:
            self.attempts[key] = self.attempts.get(key, 0) + 1
            if self.attempts[key] == 1:
                raise ValueError(f"{key} fails on its first run")
            return x

        @app.task(name="flow.noted", queue=queue)
        def noted(*args: object) -> list[object]:
            self.attempts["noted"] = self.attempts.get("noted", 0) + 1
            return list(args)

        self.add, self.mul, self.total, self.flaky, self.noted = add, mul, total, flaky, noted

    def publish_raw(self, body: dict[str, Any], queue: str | None = None) -> None:
        """Publish a body past the producer, as another producer (or a forger) could."""
        publisher = Publisher(self.app.broker)
        try:
            publisher.publish(json.dumps(body), queue or self.queue)
        finally:
            publisher.close()

    def sibling(self) -> Flow:
        """Another app on the same broker, results and queue (a worker deployed afresh)."""
        return Flow(self.broker_url, self.results_url, self.queue)

    @contextmanager
    def worker(self, *more_queues: str) -> Iterator[None]:
        worker = self.app.worker(queues=[self.queue, *more_queues], concurrency=2)
        worker.start()
        try:
            yield
        finally:
            worker.stop(timeout=TIMEOUT)
