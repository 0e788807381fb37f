"""Building an App's worker: its admission checks, result store, settings and extensions."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from arame.consumers import Admission, Worker, WorkerSettings
from arame.consumers.aiopool import DEFAULT_CONCURRENCY
from arame.extensions import Extensions
from arame.features import worker_extensions
from arame.relay import OutboxRelay
from arame.transport import exposed_hosts

if TYPE_CHECKING:
    from arame.app import App

logger = logging.getLogger(__name__)


def build_worker(
    app: App,
    queues: Sequence[str] | None,
    concurrency: int | None,
    pool: str,
    burst: bool,
    shutdown_timeout: float,
    metrics_port: int | None,
    metrics_host: str,
) -> Worker:
    """A worker for ``app`` (see ``App.worker`` for the arguments)."""
    _warn_if_unsigned_and_exposed(app)
    admission = Admission(
        app.tasks,
        app.max_message_size,
        app.max_deliveries,
        app.signer,
        accept_compressed=app.accept_compressed,
    )
    settings = WorkerSettings(
        list(queues) if queues else app.queues(),
        concurrency if concurrency is not None else _default_concurrency(pool),
        pool,
        burst,
        shutdown_timeout,
        extensions=Extensions([*app.extensions.all, *worker_extensions(metrics_port, metrics_host)]),
        # Publishes what callers committed but did not publish, for this app's queues.
        companions=[OutboxRelay(app, sorted({*app.own_queues(), *(queues or ())}))],
    )
    return Worker(app.broker, admission, app.results, settings)


def _warn_if_unsigned_and_exposed(app: App) -> None:
    hosts = exposed_hosts(app.broker)
    if hosts and app.signer is None:
        logger.warning(
            "the broker (%s) can be reached from other machines and no signing_keys are set: whoever "
            "can publish to it is trusted, and can run any task of this app with any arguments under "
            "any task id; set signing_keys (see docs/guarantees.md)",
            ", ".join(sorted(set(hosts))),
        )


def _default_concurrency(pool: str) -> int:
    """Tasks at once when not told: coroutines are cheap; threads and processes need CPUs."""
    return DEFAULT_CONCURRENCY if pool == "asyncio" else os.cpu_count() or 1
