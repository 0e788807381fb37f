"""The registry of fair sub-queues: which sub-queues of a queue workers consume.

A sub-queue is registered in the transaction that writes the PENDING row of a task published
to it, so no unfinished task is ever in a sub-queue the registry lacks. It is forgotten only
once it is empty, has had no publish for ``FORGET_AFTER`` seconds, and no task row filed under
it is unfinished (a delayed task, a retry, a task whose worker died all keep it). A publish racing
the forgetting locks the row first and refreshes ``touched_at``, so the forgetting skips it.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

import sqlalchemy as sa

from arame.coordination.flow_tables import FlowTables, fair_queues
from arame.message import TaskMessage
from arame.results.results_table import results
from arame.results.statements import NOT_TERMINAL
from arame.subqueues import fair_parent

if TYPE_CHECKING:
    from arame.results import ResultStore

FORGET_AFTER = 60.0  # seconds without a publish before an empty sub-queue may be forgotten


def fair_queues_of(messages: Sequence[TaskMessage]) -> dict[str, str]:
    """The fair sub-queues among the messages' queues, each with its parent queue."""
    found: dict[str, str] = {}
    for message in messages:
        if message.queue not in found and (parent := fair_parent(message.queue)) is not None:
            found[message.queue] = parent
    return found


class FairRegistry(FlowTables):
    """Registers sub-queues as tasks are published to them, lists and forgets them for workers.

    One per results store (``FairRegistry.of``): it remembers that its table exists.
    """

    _of_store: ClassVar[weakref.WeakKeyDictionary[ResultStore, FairRegistry]] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, store: ResultStore) -> FairRegistry:
        """The registry of ``store``'s database (made on first use)."""
        registry = cls._of_store.get(store)
        if registry is None:
            registry = cls._of_store.setdefault(store, cls(store))
        return registry

    def prepare(self) -> None:
        """Create the table if missing: call it before the transaction that ``touch`` joins."""
        self._create()

    def touch(self, conn: sa.Connection, subqueues: Mapping[str, str]) -> None:
        """Register ``subqueues`` (sub-queue -> parent) in the caller's transaction, or refresh them.

        The UPDATE comes first: it holds the row's lock until the caller commits, so a worker
        forgetting the sub-queue meanwhile waits, then sees the fresh ``touched_at``.
        """
        now = time.time()
        for queue in sorted(subqueues):  # one locking order: no deadlock between publishers
            touched = conn.execute(
                fair_queues.update().where(fair_queues.c.queue == queue).values(touched_at=now)
            )
            if not touched.rowcount:
                row = {"queue": queue, "parent": subqueues[queue], "touched_at": now}
                conn.execute(self._store.insert_ignore(fair_queues), row)

    def active(self, parents: Sequence[str]) -> dict[str, str]:
        """The registered sub-queues of ``parents``, each with its parent."""
        self._create()
        query = sa.select(fair_queues.c.queue, fair_queues.c.parent).where(
            fair_queues.c.parent.in_(list(parents))
        )
        with self._store.connect() as conn:
            return {row.queue: row.parent for row in conn.execute(query)}

    def forget(self, subqueues: Sequence[str]) -> list[str]:
        """Forget those of ``subqueues`` (found empty) that no publish and no unfinished task needs.

        Returns:
            The sub-queues forgotten.
        """
        self._create()
        cutoff = time.time() - FORGET_AFTER
        unfinished = sa.select(results.c.id).where(results.c.queue == fair_queues.c.queue, NOT_TERMINAL)
        forgotten = []
        with self._store.transaction() as conn:
            for queue in sorted(subqueues):
                deleted = conn.execute(
                    fair_queues.delete().where(
                        fair_queues.c.queue == queue,
                        fair_queues.c.touched_at < cutoff,
                        ~unfinished.exists(),
                    )
                )
                if deleted.rowcount:
                    forgotten.append(queue)
        return forgotten
