"""WorkerRegistry: the extension that lists running workers and keeps them off paused queues."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from arame.extensions import Extension, WorkerView
from arame.registry.heartbeat import Heartbeat
from arame.registry.pause_steering import PauseSteering, PauseWatch

if TYPE_CHECKING:
    from arame.app import App
    from arame.transport import BrokerSpec


class WorkerRegistry(Extension):
    """Each worker's row in the registry while it runs (``arame workers``), and the queues paused
    there (``arame pause``), which its consumers leave alone.

    Args:
        app: whose results database holds the registry and the pause rows (``App.workers``).
    """

    def __init__(self, app: App) -> None:
        self._app = app

    @contextmanager
    def running(self, worker: WorkerView) -> Iterator[None]:
        board = self._app.workers
        heartbeat = Heartbeat(board, worker.queues, worker.pool, worker.concurrency, worker.child_pids)
        heartbeat.start()
        try:
            yield
        finally:
            heartbeat.stop()

    def steering(self, spec: BrokerSpec, queues: Sequence[str]) -> PauseSteering:
        return PauseSteering(PauseWatch(self._app.workers, queues))
