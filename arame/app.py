"""App: settings, the task registry, and the lazily opened producer and result store."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any, Never, overload

from arame import publishing
from arame.app_connections import AppConnections
from arame.canvas.app_verbs import WorkflowVerbs
from arame.celery_app import CelerySpellings, check_settings
from arame.celery_settings import results_url
from arame.consumers import SHUTDOWN_TIMEOUT, Worker
from arame.consumers.admission import DEFAULT_MAX_DELIVERIES, DEFAULT_MAX_MESSAGE_SIZE
from arame.current import registry
from arame.database import database_url, default_database_url
from arame.declaring import declare_task
from arame.discovery import import_related
from arame.errors import ConfigurationError
from arame.extensions import Extension, Extensions
from arame.features import default_extensions
from arame.flow.dedup import KeyReservation
from arame.message import TaskMessage
from arame.outbox import CallerTransaction, TransactionSource, caller_transaction
from arame.periodic import PeriodicVerbs
from arame.recovery import RecoveryVerbs
from arame.results import AsyncResult
from arame.results.task_transaction import TaskTransactionSource
from arame.scheduler import PeriodicEntry
from arame.shared_tasks import SharedTask, shared_task
from arame.signing import Signer
from arame.task import P, R, Task
from arame.transport import DEFAULT_LEASE_SECONDS, parse_broker_url, with_lease, with_queue_types
from arame.worker_setup import build_worker

BROKER_ENV = "ARAME_BROKER_URL"
RESULTS_ENV = "ARAME_RESULTS_URL"
DEFAULT_QUEUE = "default"
DEFAULT_RESULT_EXPIRES = timedelta(days=7)


class App(AppConnections, PeriodicVerbs, WorkflowVerbs, RecoveryVerbs, CelerySpellings):
    """The one entry object: where tasks are declared, published and run.

    Args:
        name: a name for logs.
        broker: broker URL; default ``$ARAME_BROKER_URL``, else the embedded SQLite file.
        results: results database URL; default ``$ARAME_RESULTS_URL``, else the same SQLite file.
        broker_options: transport options, over those of the URL's query (``master_name`` and
            ``sentinel_password`` for ``sentinel://``, ``socket_timeout``...).
        default_queue: the queue of tasks that name none.
        max_message_size: bytes; a larger message is refused by the producer and by workers.
        max_deliveries: a message delivered more often than this goes to the dead-letter queue.
        signing_keys: key id -> secret. When given, messages are signed (HMAC-SHA256) and
            workers refuse unsigned or altered ones.
        signing_key_id: the id to sign with (default: the only key, or the first one).
        accept_compressed: workers accept messages another producer compressed (Kombu's
            ``compression`` header: zlib, bzip2, lzma), decompressed no further than
            ``max_message_size``; by default such a message is dead-lettered unread.
        timezone: the time zone cron schedules are read in (UTC by default).
        result_expires: how long finished rows are kept (a timedelta, or seconds as a number);
            the scheduler prunes older ones.
        lease_seconds: on the SQL and Redis transports, how long a fetched message stays hidden
            without its worker renewing the lease (5 s by default; a thread renews it every
            third of it); a dead worker's message returns after this. Longer leases ride out
            longer broker outages without a second run, at the cost of slower redelivery.
        queue_type: on RabbitMQ, ``"classic"`` (the default) or ``"quorum"`` (replicated; see
            docs/scaling.md); ``queue_types`` maps a queue name to its own type.
        immediate: run each published task at once in the caller's thread (for tests; see
            ``arame.testing.immediate``).
        on_commit: registers a callback to run once the caller's database transaction commits
            (``django.db.transaction.on_commit``); used by ``Task.delay_on_commit``.
        transaction_source: for framework integrations (Django): returns the DB-API connection
            of the caller's open transaction on the results database and a function registering
            a callback after its commit, or ``None``; publishes then go through the outbox.
        task_transaction: for framework integrations (Django): opens the transaction an atomic
            task runs in, on the results database, yielding its DB-API connection and a function
            that marks it for rollback.
        publish_in_background: ``delay()`` returns once the task's rows are committed; a thread
            publishes the message right after, and should this process die first, a worker
            publishes it from its row within seconds. The caller waits for the database only,
            never for the broker (docs/guarantees.md says what this keeps).
        trace_parent: with tracing on (``otel`` extra, a tracer provider configured), make a
            task's ``process`` span a child of the span that sent it, not only linked to it.
        backend: Celery's name of ``results`` (a ``db+`` prefix is dropped; only SQL databases).
        include: modules to import before a worker or the scheduler starts (Celery's).
        settings: Celery's settings that ``app.conf`` maps (``task_default_queue``...).
        extensions: your own ``arame.Extension``s, run after the built-in features' (see
            docs/architecture.md for the hooks).

    Raises:
        ConfigurationError: a URL names no transport or database arame supports, or a keyword
            is neither an option nor a Celery setting arame maps (the message names the arame way).
    """

    def __init__(
        self,
        name: str = "arame",
        *,
        broker: str | None = None,
        results: str | None = None,
        broker_options: Mapping[str, Any] | None = None,
        default_queue: str = DEFAULT_QUEUE,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        signing_keys: Mapping[str, bytes | str] | None = None,
        signing_key_id: str | None = None,
        accept_compressed: bool = False,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        queue_type: str = "classic",
        queue_types: Mapping[str, str] | None = None,
        timezone: str = "UTC",
        result_expires: timedelta | float = DEFAULT_RESULT_EXPIRES,
        immediate: bool = False,
        on_commit: Callable[[Callable[[], None]], None] | None = None,
        trace_parent: bool = False,
        publish_in_background: bool = False,
        transaction_source: TransactionSource | None = None,
        task_transaction: TaskTransactionSource | None = None,
        backend: str | None = None,
        include: Sequence[str] = (),
        extensions: Sequence[Extension] = (),
        **settings: Never,
    ) -> None:
        check_settings(type(self), settings)
        if backend is not None:
            if results is not None:
                raise ConfigurationError("give results= only (backend= is Celery's name for it)")
            results = results_url(backend)
        self.include, self._imported = list(include), set()
        self.name, self.trace_parent, self.timezone = name, trace_parent, timezone
        self.immediate, self.on_commit = immediate, on_commit
        self.publish_in_background = publish_in_background
        self.transaction_source, self.task_transaction = transaction_source, task_transaction
        self.result_expires = result_expires
        self.periodic_entries: list[PeriodicEntry] = []
        self.lease_seconds = lease_seconds
        self.queue_type, self.queue_types = queue_type, dict(queue_types or {})
        self.broker_options = dict(broker_options or {})
        self.default_queue = default_queue
        self.max_message_size = max_message_size
        self.max_deliveries = max_deliveries
        self.accept_compressed = accept_compressed
        self.signer = (
            Signer(signing_keys, signing_key_id or next(iter(signing_keys))) if signing_keys else None
        )
        self.tasks: dict[str, Task[Any, Any]] = {}
        #: The features' hooks, then the caller's (see arame.extensions).
        self.extensions = Extensions([*default_extensions(self), *extensions])
        AppConnections.__init__(self)
        self.configure(
            broker=broker or os.environ.get(BROKER_ENV) or default_database_url(),
            results=results or os.environ.get(RESULTS_ENV) or default_database_url(),
        )
        registry.add(self)
        self.conf.update(settings)

    def __repr__(self) -> str:
        return f"<App {self.name} broker={self.broker.safe_url}>"

    def configure(self, *, broker: str | None = None, results: str | None = None) -> None:
        """Point the app at other URLs (as ``--broker`` / ``--results`` do); reopens lazily.

        Raises:
            ConfigurationError: a URL names no transport or database arame supports.
        """
        if broker:
            spec = with_lease(parse_broker_url(broker, self.broker_options), self.lease_seconds)
            spec = with_queue_types(spec, self.queue_type, self.queue_types, self.max_deliveries)
            self.close_broker()
            self.broker_url, self.broker = broker, spec
        if results:
            normalised = database_url(results)
            self.close_results()
            self.results_url, self._results_db = results, normalised

    # -- declaring -------------------------------------------------------------------------

    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...
    @overload
    def task(self, /, **options: Any) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def task(self, fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
        """Declare a function as a task: ``@app.task`` or ``@app.task(queue="emails", ...)``.

        Raises:
            ConfigurationError: an unknown option or an invalid value.
        """

        def declare(function: Callable[..., Any]) -> Task[Any, Any]:
            return declare_task(self, function, options)

        return declare(fn) if fn is not None else declare

    # -- publishing and reading ------------------------------------------------------------

    def send(self, message: TaskMessage) -> AsyncResult:
        """Record ``message`` as PENDING, publish it, and return its handle (see ``publishing.send``)."""
        return publishing.send(self, message)

    def send_once(self, message: TaskMessage, key: str, seconds: float) -> AsyncResult:
        """``send``, unless another task holds ``key``: then that task's handle (deduplication)."""
        return publishing.send(self, message, KeyReservation(self, key, seconds))

    def send_many(self, messages: Sequence[TaskMessage]) -> list[AsyncResult]:
        """Record ``messages`` as PENDING, publish them, return handles (see ``publishing.send_many``)."""
        return publishing.send_many(self, messages)

    def send_task(
        self, name: str, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None, **options: Any
    ) -> AsyncResult:
        """Publish a task by name, with ``apply_async``'s options (see ``publishing.send_task``)."""
        return publishing.send_task(self, name, args, kwargs, **options)

    def transaction(self, conn: Any) -> AbstractContextManager[CallerTransaction]:
        """Enqueue the block's tasks in ``conn``'s transaction: their rows commit with it, and
        they are published after the commit; a rollback publishes nothing (see docs/transactions.md).

        Args:
            conn: a SQLAlchemy ``Connection`` or ``Session`` on the results database.

        Raises:
            ConfigurationError: ``conn`` is on another database.
        """
        return caller_transaction(self, conn)

    def autodiscover_tasks(
        self, packages: Sequence[str] | Callable[[], Sequence[str]], related_name: str = "tasks"
    ) -> list[str]:
        """Import ``<package>.<related_name>`` of each package that has one (Celery's spelling); return
        the modules imported. A tasks module that exists but fails to import raises ImportError."""
        return import_related(packages() if callable(packages) else packages, related_name)

    def AsyncResult(self, task_id: str) -> AsyncResult:  # noqa: N802 - the name users know
        """A handle on any task id; one never published reads ``UNKNOWN``."""
        return AsyncResult(task_id, self.results)

    def worker(
        self,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        *,
        pool: str = "thread",
        burst: bool = False,
        shutdown_timeout: float = SHUTDOWN_TIMEOUT,
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
    ) -> Worker:
        """A worker for this app; ``run()`` it, or ``start()`` / ``stop()`` it on a thread.

        Args:
            queues: queues to consume; default: the queues of every declared task.
            concurrency: tasks at once; default: the number of CPUs (1000 for the asyncio pool).
            pool: ``"thread"``, ``"process"`` or ``"asyncio"`` (async tasks as asyncio tasks on
                one event loop, sync ones on threads).
            burst: return once the queues are empty.
            shutdown_timeout: seconds running tasks get to finish after a stop.
            metrics_port: serve Prometheus metrics on this port while the worker runs (the
                ``metrics`` extra); 0 picks a free port (read it from the worker's ``WorkerMetrics``
                extension: ``worker.settings.extensions.of_type(WorkerMetrics).port``).
            metrics_host: the address the metrics endpoint listens on.
        """
        self.import_included()
        return build_worker(
            self, queues, concurrency, pool, burst, shutdown_timeout, metrics_port, metrics_host
        )

    def queues(self) -> list[str]:
        """The default queue and every queue a declared task names."""
        self.import_included()
        return sorted({self.default_queue} | {task.queue for task in self.tasks.values()})

    def own_queues(self) -> list[str]:
        """``queues()`` and those given a queue type: what ``arame status``, ``arame workers`` and
        the dashboard show of a results database shared with other apps (unless asked for all)."""
        return sorted(set(self.queues()) | set(self.queue_types))


__all__ = ["App", "SharedTask", "shared_task"]
