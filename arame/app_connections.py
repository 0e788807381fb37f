"""The App's lazily opened connections: its producer, its result store, its worker registry."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from arame.background_publishing import BackgroundPublisher
from arame.coordination import WorkerBoard
from arame.producers import Producer
from arame.results import ResultStore

if TYPE_CHECKING:
    from arame.extensions import Extensions
    from arame.results.task_transaction import TaskTransactionSource
    from arame.signing import Signer
    from arame.transport import BrokerSpec


class AppConnections:
    """Mixed into ``App``: each connection opens on first use and closes on ``close()``."""

    broker: BrokerSpec
    max_message_size: int
    signer: Signer | None
    task_transaction: TaskTransactionSource | None
    extensions: Extensions
    publish_in_background: bool
    _results_db: str

    def __init__(self) -> None:
        self._producer: Producer | None = None
        self._store: ResultStore | None = None
        self._workers: WorkerBoard | None = None
        self._workers_store: ResultStore | None = None
        self._background: BackgroundPublisher | None = None
        self._lock = threading.Lock()

    @property
    def producer(self) -> Producer:
        """The producer, opened on first use."""
        if self._producer is None:
            with self._lock:
                if self._producer is None:
                    self._producer = Producer(
                        self.broker, max_message_size=self.max_message_size, signer=self.signer
                    )
        return self._producer

    @property
    def results(self) -> ResultStore:
        """The result store, opened on first use."""
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = ResultStore(self._results_db)
                    self._store.task_transaction_source = self.task_transaction
                    self._store.extensions = self.extensions
                    # What the extensions' on_record returned (workflow steps that fired) is
                    # published by this app once the outcomes have committed.
                    self._store.publish_fired = lambda fired: self.producer.publish_many(fired)  # noqa: PLW0108 - the producer opens on first use
        return self._store

    @property
    def background(self) -> BackgroundPublisher | None:
        """What publishes behind the caller, with ``publish_in_background``; else ``None``."""
        if not self.publish_in_background:
            return None
        if self._background is None:
            with self._lock:
                if self._background is None:
                    self._background = BackgroundPublisher(self)  # type: ignore[arg-type]
        return self._background

    @property
    def workers(self) -> WorkerBoard:
        """The registry of running workers and the paused queues, in the results database."""
        if self._workers is None or self._workers_store is not self.results:
            self._workers, self._workers_store = WorkerBoard(self.results), self.results
        return self._workers

    def close(self) -> None:
        """Publish what waits to be published behind the caller, then close the broker
        connection and the database pool."""
        if self._background is not None:
            self._background.flush()
        self.close_broker()
        self.close_results()

    def close_broker(self) -> None:
        """Close the producer's connection; the next publish opens another."""
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.close()

    def close_results(self) -> None:
        """Close the result store's pool; the next read or write opens another."""
        store, self._store = self._store, None
        if store is not None:
            store.close()
