"""App: settings, the task registry, and the lazily opened producer and result store."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, overload

from arame.celery_options import translate
from arame.consumers import SHUTDOWN_TIMEOUT, Admission, Worker
from arame.consumers.admission import DEFAULT_MAX_DELIVERIES, DEFAULT_MAX_MESSAGE_SIZE
from arame.database import database_url, default_database_url
from arame.discovery import import_related
from arame.errors import ConfigurationError, PublishError, ResultStoreError, TaskNotRegistered
from arame.immediate import run_here
from arame.message import TaskMessage
from arame.producers import Producer
from arame.recovery import RECONCILE_GRACE, reconcile, requeue_dead_letters, retry_task
from arame.results import AsyncResult, ResultStore, TickLedger
from arame.scheduler import PeriodicEntry, Schedule, Scheduler
from arame.signing import Signer
from arame.task import P, R, Task, TaskOptions
from arame.task import task_options as task_options_from
from arame.transport import DEFAULT_LEASE_SECONDS, parse_broker_url, with_lease

logger = logging.getLogger(__name__)

BROKER_ENV = "ARAME_BROKER_URL"
RESULTS_ENV = "ARAME_RESULTS_URL"
DEFAULT_QUEUE = "default"
DEFAULT_RESULT_EXPIRES = timedelta(days=7)
HOUSEKEEPING_EVERY = timedelta(minutes=5)  # how soon the scheduler republishes tasks a broker lost

F = TypeVar("F", bound=Callable[..., Any])


class App:
    """The one entry object: where tasks are declared, published and run.

    Args:
        name: a name for logs.
        broker: broker URL; default ``$ARAME_BROKER_URL``, else the embedded SQLite file.
        results: results database URL; default ``$ARAME_RESULTS_URL``, else the same SQLite file.
        default_queue: the queue of tasks that name none.
        max_message_size: bytes; a larger message is refused by the producer and by workers.
        max_deliveries: a message delivered more often than this goes to the dead-letter queue.
        signing_keys: key id -> secret. When given, messages are signed (HMAC-SHA256) and
            workers refuse unsigned or altered ones.
        signing_key_id: the id to sign with (default: the only key, or the first one).
        timezone: the time zone cron schedules are read in (UTC by default).
        result_expires: how long finished rows are kept (a timedelta, or seconds as a number);
            the scheduler prunes older ones.
        lease_seconds: on the SQL and Redis transports, how long a fetched message stays hidden
            without its worker renewing the lease; a dead worker's message returns after this.
        immediate: run each published task at once in the caller's thread (for tests; see
            ``arame.testing.immediate``).
        on_commit: registers a callback to run once the caller's database transaction commits
            (``django.db.transaction.on_commit``); used by ``Task.delay_on_commit``.

    Raises:
        ConfigurationError: a URL names no transport or database arame supports.
    """

    def __init__(
        self,
        name: str = "arame",
        *,
        broker: str | None = None,
        results: str | None = None,
        default_queue: str = DEFAULT_QUEUE,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        signing_keys: Mapping[str, bytes | str] | None = None,
        signing_key_id: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        timezone: str = "UTC",
        result_expires: timedelta | float = DEFAULT_RESULT_EXPIRES,
        immediate: bool = False,
        on_commit: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.name = name
        self.timezone = timezone
        self.immediate = immediate
        self.on_commit = on_commit
        self.result_expires = result_expires
        self.periodic_entries: list[PeriodicEntry] = []
        self.lease_seconds = lease_seconds
        self.default_queue = default_queue
        self.max_message_size = max_message_size
        self.max_deliveries = max_deliveries
        self.signer = (
            Signer(signing_keys, signing_key_id or next(iter(signing_keys))) if signing_keys else None
        )
        self.tasks: dict[str, Task[Any, Any]] = {}
        self._producer: Producer | None = None
        self._store: ResultStore | None = None
        self._lock = threading.Lock()
        self.configure(
            broker=broker or os.environ.get(BROKER_ENV) or default_database_url(),
            results=results or os.environ.get(RESULTS_ENV) or default_database_url(),
        )
        _registry.add(self)

    def __repr__(self) -> str:
        return f"<App {self.name} broker={self.broker.safe_url}>"

    @property
    def result_expires(self) -> timedelta:
        """How long finished rows are kept; set it as a timedelta or as seconds."""
        return self._result_expires

    @result_expires.setter
    def result_expires(self, value: timedelta | float) -> None:
        self._result_expires = _period(value, "result_expires")

    def configure(self, *, broker: str | None = None, results: str | None = None) -> None:
        """Point the app at other URLs (as ``--broker`` / ``--results`` do); reopens lazily.

        Raises:
            ConfigurationError: a URL names no transport or database arame supports.
        """
        if broker:
            spec = with_lease(parse_broker_url(broker), self.lease_seconds)
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
            name = options.pop("name", None) or f"{function.__module__}.{function.__qualname__}"
            task_options = task_options_from(name, translate(name, options))
            existing = self.tasks.get(name)
            if existing is not None and _origin(existing.fn) != _origin(function):
                raise ConfigurationError(
                    f"two functions are declared as task {name!r}: {_origin(existing.fn)} and "
                    f"{_origin(function)}; give one of them another name="
                )
            task: Task[Any, Any] = Task(self, function, task_options)
            self.tasks[name] = task
            return task

        return declare(fn) if fn is not None else declare

    def periodic(
        self,
        *,
        cron: str | None = None,
        every: timedelta | None = None,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Callable[[Any], Any]:
        """Publish a task on a schedule: ``@app.periodic(cron="*/5 * * * *")`` above ``@app.task``.

        On a plain function it declares the task too. Ticks are published by ``arame scheduler``
        (or ``arame worker --scheduler``), each tick once however many schedulers run.

        Raises:
            ConfigurationError: neither or both of cron/every, or an invalid expression.
        """
        schedule = Schedule(cron=cron, every=every, timezone=self.timezone)

        def register(target: Any) -> Any:
            task = target if isinstance(target, Task) else self.task(target)
            self.periodic_entries.append(PeriodicEntry(task.name, schedule, tuple(args), dict(kwargs or {})))
            return task

        return register

    def scheduler(self) -> Scheduler:
        """A scheduler for this app's periodic tasks; ``run()`` it or ``start()`` / ``stop()`` it."""

        def publish(entry: PeriodicEntry, tick: datetime) -> None:
            # A deterministic id: the tick's row is the same whichever scheduler publishes it.
            task_id = f"{entry.task_name}@{tick.strftime('%Y%m%dT%H%M%SZ')}"
            self.tasks[entry.task_name].apply_async(entry.args, entry.kwargs, task_id=task_id)

        return Scheduler(
            self.periodic_entries,
            TickLedger(self.results),
            publish,
            housekeeping=self._housekeeping,
            housekeeping_every=HOUSEKEEPING_EVERY,
        )

    def _housekeeping(self) -> None:
        try:
            self.reconcile()
        finally:
            self.prune()

    def prune(self) -> int:
        """Delete finished rows older than ``result_expires`` and old ticks; return rows deleted."""
        cutoff = datetime.now(UTC) - self.result_expires
        deleted = self.results.prune(cutoff)
        TickLedger(self.results).prune(cutoff)
        logger.info("pruned %d finished rows older than %s", deleted, cutoff.isoformat())
        return deleted

    # -- publishing and reading ------------------------------------------------------------

    def send(self, message: TaskMessage) -> AsyncResult:
        """Record ``message`` as PENDING, publish it, and return its handle.

        Raises:
            ResultStoreError: the PENDING row could not be written; nothing was published.
            PublishError: the broker did not store the message; its row is removed again.
        """
        if self.immediate:
            return run_here(self, message)
        self.results.add_pending(message)
        try:
            self.producer.publish(message)
        except PublishError:
            try:
                self.results.forget_pending(message.id)
            except ResultStoreError:
                logger.warning("could not remove the row of unpublished task %s", message.id)
            raise
        return AsyncResult(message.id, self.results)

    def send_many(self, messages: Sequence[TaskMessage]) -> list[AsyncResult]:
        """Record ``messages`` as PENDING in one transaction, publish them together, return handles.

        Raises:
            ResultStoreError: the PENDING rows could not be written; nothing was published.
            PublishError: the broker did not store them all; their rows are removed again.
        """
        if not messages:
            return []
        if self.immediate:
            return [run_here(self, message) for message in messages]
        self.results.add_pending_many(messages)
        try:
            self.producer.publish_many(messages)
        except PublishError:
            try:
                self.results.forget_pending_many([message.id for message in messages])
            except ResultStoreError:
                logger.warning("could not remove the rows of %d unpublished tasks", len(messages))
            raise
        return [AsyncResult(message.id, self.results) for message in messages]

    def send_task(
        self, name: str, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None, **options: Any
    ) -> AsyncResult:
        """Publish a task by name, with ``apply_async``'s options (as ``arame send`` does).

        A name this process has not declared is published as it is (a producer-only service
        publishing to workers that know it, as Celery allows); a declared one has its arguments
        checked against its signature.
        """
        task = self.tasks.get(name) or Task(self, _declared_elsewhere, TaskOptions(name=name))
        return task.apply_async(tuple(args), kwargs or {}, **options)

    def autodiscover_tasks(
        self, packages: Sequence[str] | Callable[[], Sequence[str]], related_name: str = "tasks"
    ) -> list[str]:
        """Import ``<package>.<related_name>`` for each package that has one (Celery's spelling).

        Returns:
            The modules imported.

        Raises:
            ImportError: a tasks module exists but fails to import.
        """
        return import_related(packages() if callable(packages) else packages, related_name)

    def retry(self, task_id: str) -> AsyncResult:
        """Run a FAILURE or REVOKED task again from its row: same id, attempts continuing.

        Raises:
            TaskStateError: unknown id, no stored message, or not FAILURE/REVOKED.
        """
        retry_task(self.results, self.producer, task_id)
        return AsyncResult(task_id, self.results)

    def requeue_dead(self, queue: str, task_id: str | None = None) -> list[str]:
        """Publish the dead letters of ``queue`` (or the one of ``task_id``) back, their rows PENDING again.

        Returns:
            The task ids requeued (a letter without a readable id goes back without a row).
        """
        return requeue_dead_letters(self.results, self.broker, queue, task_id)

    def reconcile(self, older_than: float = RECONCILE_GRACE) -> list[str]:
        """Publish again the PENDING tasks (older than ``older_than`` s) the broker lost; return their ids."""
        return reconcile(self.results, self.producer, self.broker, older_than)

    def AsyncResult(self, task_id: str) -> AsyncResult:  # noqa: N802 - the name users know
        """A handle on any task id; one never published reads ``UNKNOWN``."""
        return AsyncResult(task_id, self.results)

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
        return self._store

    # -- running ---------------------------------------------------------------------------

    def worker(
        self,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        *,
        pool: str = "thread",
        burst: bool = False,
        shutdown_timeout: float = SHUTDOWN_TIMEOUT,
    ) -> Worker:
        """A worker for this app; ``run()`` it, or ``start()`` / ``stop()`` it on a thread.

        Args:
            queues: queues to consume; default: the queues of every declared task.
            concurrency: tasks at once; default: the number of CPUs.
            pool: ``"thread"`` or ``"process"``.
            burst: return once the queues are empty.
            shutdown_timeout: seconds running tasks get to finish after a stop.
        """
        admission = Admission(self.tasks, self.max_message_size, self.max_deliveries, self.signer)
        return Worker(
            self.broker,
            list(queues) if queues else self.queues(),
            admission,
            self.results,
            concurrency=concurrency if concurrency is not None else os.cpu_count() or 1,
            pool=pool,
            burst=burst,
            shutdown_timeout=shutdown_timeout,
        )

    def queues(self) -> list[str]:
        """The default queue and every queue a declared task names."""
        return sorted({self.default_queue} | {task.queue for task in self.tasks.values()})

    def close(self) -> None:
        """Close the broker connection and the database pool."""
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


def _period(value: object, what: str) -> timedelta:
    """A timedelta from a timedelta or a number of seconds (Celery's spelling)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta):
        raise ConfigurationError(f"{what} must be a timedelta or seconds as a number, not {value!r}")
    if value < timedelta(0):
        raise ConfigurationError(f"{what} must not be negative, not {value}")
    return value


def _declared_elsewhere(*args: Any, **kwargs: Any) -> None:
    """Stands for a task not declared in this process: its worker checks the arguments."""
    raise TaskNotRegistered("a task declared elsewhere")


def _origin(fn: Callable[..., Any]) -> str:
    code = getattr(fn, "__code__", None)
    where = f" ({code.co_filename}:{code.co_firstlineno})" if code is not None else ""
    return f"{fn.__module__}.{fn.__qualname__}{where}"


class _AppRegistry:
    """The apps alive in this process, and the shared tasks declared for all of them."""

    def __init__(self) -> None:
        self.apps: weakref.WeakSet[App] = weakref.WeakSet()
        self.current: weakref.ReferenceType[App] | None = None
        self.shared: list[tuple[Callable[..., Any], dict[str, Any]]] = []

    def add(self, app: App) -> None:
        self.apps.add(app)
        self.current = weakref.ref(app)
        for fn, options in self.shared:
            app.task(**options)(fn)

    def share(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        self.shared.append((fn, options))
        for app in list(self.apps):
            app.task(**options)(fn)

    def current_app(self) -> App:
        app = self.current() if self.current is not None else None
        if app is None:
            raise ConfigurationError("no arame.App exists yet: create one before calling a shared task")
        return app


_registry = _AppRegistry()


class SharedTask:
    """A task declared for every app; it publishes through the app current when called."""

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        self.fn = fn
        self.name = options.get("name") or f"{fn.__module__}.{fn.__qualname__}"
        self._options = {**options, "name": self.name}
        _registry.share(fn, self._options)

    def __repr__(self) -> str:
        return f"<SharedTask {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._options.get("bind"):
            return self._task()(*args, **kwargs)  # the function expects its task as self
        return self.fn(*args, **kwargs)

    def _task(self) -> Task[Any, Any]:
        app = _registry.current_app()
        return app.tasks.get(self.name) or app.task(**self._options)(self.fn)

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Publish through the current app."""
        return self._task().delay(*args, **kwargs)

    def apply_async(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Publish through the current app, with options."""
        return self._task().apply_async(*args, **kwargs)

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:
        """Publish through the current app once the caller's transaction commits."""
        self._task().delay_on_commit(*args, **kwargs)

    def apply_async_on_commit(self, *args: Any, **kwargs: Any) -> None:
        """Publish through the current app, with options, once the caller's transaction commits."""
        self._task().apply_async_on_commit(*args, **kwargs)

    def map(self, *args: Any, **kwargs: Any) -> list[AsyncResult]:
        """Publish many calls at once through the current app."""
        return self._task().map(*args, **kwargs)

    async def adelay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Publish through the current app, from async code."""
        return await self._task().adelay(*args, **kwargs)

    async def aapply_async(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Publish through the current app, with options, from async code."""
        return await self._task().aapply_async(*args, **kwargs)

    def AsyncResult(self, task_id: str) -> AsyncResult:  # noqa: N802 - Celery's name
        """A handle on a result, read through the current app."""
        return self._task().AsyncResult(task_id)


def shared_task(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Declare a task for reusable modules: it binds to the app current when it is called."""

    def declare(function: Callable[..., Any]) -> SharedTask:
        return SharedTask(function, options)

    return declare(fn) if fn is not None else declare


__all__ = ["App", "SharedTask", "shared_task"]
