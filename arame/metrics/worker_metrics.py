"""A worker's own ``/metrics`` endpoint: counts and timings of the tasks it runs.

With the process pool the endpoint is served by the supervisor and includes every child's
counts: prometheus_client's multiprocess mode, in a private directory made before the first
fork and removed when the worker stops (see ``WorkerMetrics.open``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from arame.errors import ConfigurationError
from arame.extensions import Extension, WorkerView

if TYPE_CHECKING:
    from arame.message import TaskMessage
    from arame.states import Outcome
    from arame.task import Task

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds; from a few milliseconds (the pipeline's own cost) to an hour-long task or backlog.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class WorkerMetrics(Extension):
    """Serves ``arame_tasks_total``, ``arame_task_duration_seconds``, ``arame_task_wait_seconds``,
    ``arame_worker_slots`` and ``arame_worker_slots_busy`` on ``http://host:port/metrics``.

    One worker's extension (``App.worker(metrics_port=...)`` adds it to that worker's): the
    endpoint lives as long as the worker runs; tasks are counted in whichever process runs them.

    Args:
        port: the port to listen on; 0 picks a free one (read ``port`` after ``open``).
        host: the address to listen on.
    """

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host
        self._directory: str | None = None
        self._server: Any = None
        self._metrics: _Metrics | None = None
        self._busy = _Busy(self)

    @contextmanager
    def running(self, worker: WorkerView) -> Iterator[None]:
        self.open(process_pool=worker.pool == "process", slots=worker.concurrency)
        try:
            yield
        finally:
            self.close()

    def around_execution(self, task: Task[Any, Any], message: TaskMessage) -> _Busy:
        return self._busy  # one object for every task: a run allocates nothing here

    def open(self, *, process_pool: bool, slots: int) -> None:
        """Start serving; with the process pool, switch prometheus_client to multiprocess mode first.

        Raises:
            ConfigurationError: the port cannot be bound.
        """
        if process_pool:
            # Before prometheus_client is imported (it reads the variable then), and before any
            # fork: the children inherit it and write their values to files in the directory.
            self._directory = tempfile.mkdtemp(prefix="arame-metrics-")
            os.environ[MULTIPROC_ENV] = self._directory
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry()
        if process_pool:
            from prometheus_client import multiprocess, values

            if not getattr(values.ValueClass, "_multiprocess", False):
                values.ValueClass = values.MultiProcessValue()  # imported before the variable was set
            multiprocess.MultiProcessCollector(registry)
        self._metrics = _Metrics(None if process_pool else registry)
        self._metrics.slots.set(slots)
        try:
            self._server, _thread = start_http_server(self.port, addr=self.host, registry=registry)
        except OSError as exc:
            self.close()
            raise ConfigurationError(f"cannot serve metrics on {self.host}:{self.port}: {exc}") from exc
        self.port = self._server.server_port
        logger.info("serving metrics on http://%s:%d/metrics", self.host, self.port)

    def close(self) -> None:
        """Stop serving and remove the multiprocess directory."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._directory is not None:
            if os.environ.get(MULTIPROC_ENV) == self._directory:
                del os.environ[MULTIPROC_ENV]
                from prometheus_client import values

                values.ValueClass = values.MutexValue  # metrics made later in this process: in memory
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def after_execution(self, message: TaskMessage, outcome: Outcome, seconds: float) -> None:
        """Count the outcome and observe its wait and run times."""
        metrics = self._metrics
        if metrics is None:
            return
        metrics.tasks.labels(message.task, message.queue, outcome.state).inc()
        started, finished = outcome.started_at, outcome.finished_at
        if started is not None:
            # A delayed task (countdown, eta, retry) waits from when it was due, not from publish.
            due = max(message.created, message.eta or 0.0)
            metrics.wait.labels(message.task, message.queue).observe(max(started - due, 0.0))
            if finished is not None:
                metrics.duration.labels(message.task, message.queue).observe(max(finished - started, 0.0))

    def process_ended(self, pid: int) -> None:
        """Drop a dead child's live gauges (its counters and histograms stay in the totals)."""
        if self._directory is not None:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid, self._directory)


class _Busy(AbstractContextManager[None]):
    """Around a task's run: one more slot busy (a context manager without state, so shared)."""

    def __init__(self, owner: WorkerMetrics) -> None:
        self._owner = owner

    def __enter__(self) -> None:
        if (metrics := self._owner._metrics) is not None:
            metrics.busy.inc()

    def __exit__(self, *exc_info: object) -> None:
        if (metrics := self._owner._metrics) is not None:
            metrics.busy.dec()


class _Metrics:
    """The metric objects; registered in ``registry``, or collected from files (multiprocess)."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        labels = ("task", "queue")
        self.tasks = Counter(
            "arame_tasks", "Tasks run, by outcome state.", (*labels, "state"), registry=registry
        )
        self.duration = Histogram(
            "arame_task_duration_seconds", "Run time of tasks.", labels, buckets=BUCKETS, registry=registry
        )
        self.wait = Histogram(
            "arame_task_wait_seconds",
            "Time from publish (or from the eta of a delayed task) to start.",
            labels,
            buckets=BUCKETS,
            registry=registry,
        )
        self.busy = Gauge(
            "arame_worker_slots_busy", "Tasks running now.", registry=registry, multiprocess_mode="livesum"
        )
        self.slots = Gauge(
            "arame_worker_slots",
            "Tasks the worker may run at once.",
            registry=registry,
            multiprocess_mode="livemax",
        )
