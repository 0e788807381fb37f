"""Workers you can list: each registers a row in ``arame_workers`` and beats every few seconds.

A worker that stops deletes its row; one that died stops beating and reads as lost once
``LOST_AFTER`` seconds pass without a beat (computed when read, nothing sweeps the table).
The task ids a worker runs now are read from the results table: the rows it claimed
(``worker`` = ``host:pid`` of the worker or one of its pool's children) still ``STARTED``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata as package_metadata

import sqlalchemy as sa

from arame import states
from arame.coordination.pauses import Pauses
from arame.coordination.registry_tables import SteeringTables, workers
from arame.results.app_scope import covers
from arame.results.result_store import ResultStore
from arame.results.results_table import results

BEAT_EVERY = 5.0  # seconds between heartbeats
LOST_AFTER = 3 * BEAT_EVERY  # a worker silent this long is shown as lost


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One registered worker, as listed."""

    id: str
    host: str
    pid: int
    queues: list[str]
    pool: str
    concurrency: int
    started_at: datetime
    heartbeat_at: datetime
    version: str
    children: list[int]
    lost: bool
    running: list[str] = field(default_factory=list)

    @property
    def names(self) -> set[str]:
        """The ``host:pid`` names its processes write into the rows they claim."""
        return {f"{self.host}:{pid}" for pid in [self.pid, *self.children]}


class WorkerBoard:
    """The worker registry and the pause rows of one results database; what a worker is wired to.

    Args:
        store: the results database.
    """

    def __init__(self, store: ResultStore) -> None:
        self._tables = SteeringTables(store)
        self.pauses = Pauses(self._tables)

    def register(
        self, worker_id: str, *, host: str, pid: int, queues: Sequence[str], pool: str, concurrency: int
    ) -> None:
        """Add this worker's row (again, after it was lost and cleared)."""
        store = self._tables.ensure()
        now = datetime.now(UTC)
        row = {
            "id": worker_id,
            "host": host,
            "pid": pid,
            "queues": json.dumps(list(queues)),
            "pool": pool,
            "concurrency": concurrency,
            "started_at": now,
            "heartbeat_at": now,
            "version": _version(),
            "children": "[]",
        }
        with store.transaction() as conn:
            conn.execute(store.insert_ignore(workers), row)

    def beat(self, worker_id: str, children: Sequence[int]) -> bool:
        """Record that the worker is alive; ``False`` if its row is gone (register again)."""
        store = self._tables.ensure()
        values = {"heartbeat_at": datetime.now(UTC), "children": json.dumps(sorted(children))}
        with store.transaction() as conn:
            changed = conn.execute(workers.update().where(workers.c.id == worker_id).values(**values))
            return bool(changed.rowcount)

    def unregister(self, worker_id: str) -> None:
        """Delete the worker's row: it stopped."""
        store = self._tables.ensure()
        with store.transaction() as conn:
            conn.execute(workers.delete().where(workers.c.id == worker_id))

    def paused(self, queues: Sequence[str]) -> set[str]:
        """Which of ``queues`` are paused now."""
        return set(self.pauses.paused(queues))

    def forget_lost(self) -> int:
        """Delete the rows of lost workers; return how many."""
        store = self._tables.ensure()
        cutoff = datetime.now(UTC) - timedelta(seconds=LOST_AFTER)
        with store.transaction() as conn:
            return int(conn.execute(workers.delete().where(workers.c.heartbeat_at < cutoff)).rowcount)

    def list(self, queues: Collection[str] | None = None) -> list[WorkerInfo]:
        """The registered workers (alive or lost), with the task ids each runs now.

        Args:
            queues: only the workers consuming one of these (or a fair sub-queue of one);
                ``None``: every worker.
        """
        store = self._tables.readable()
        if store is None:
            return []
        now = datetime.now(UTC)
        with store.connect() as conn:
            every = [
                _info(row, now) for row in conn.execute(sa.select(workers).order_by(workers.c.started_at))
            ]
            found = [info for info in every if queues is None or any(covers(queues, q) for q in info.queues)]
            owners = {name: info for info in found for name in info.names}
            if owners:
                running = sa.select(results.c.id, results.c.worker).where(
                    results.c.state == states.STARTED, results.c.worker.in_(sorted(owners))
                )
                for task_id, name in conn.execute(running):
                    owners[name].running.append(task_id)
        return found


def _info(row: sa.Row[tuple[object, ...]], now: datetime) -> WorkerInfo:
    data = row._mapping
    beat = _aware(data["heartbeat_at"])
    return WorkerInfo(
        id=data["id"],
        host=data["host"] or "?",
        pid=int(data["pid"] or 0),
        queues=json.loads(data["queues"] or "[]"),
        pool=data["pool"] or "?",
        concurrency=int(data["concurrency"] or 0),
        started_at=_aware(data["started_at"]),
        heartbeat_at=beat,
        version=data["version"] or "?",
        children=json.loads(data["children"] or "[]"),
        lost=(now - beat).total_seconds() > LOST_AFTER,
    )


def _aware(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.fromtimestamp(0, UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _version() -> str:
    try:
        return package_metadata.version("arame")
    except package_metadata.PackageNotFoundError:
        return "unknown"
