"""Global rate and concurrency limits, kept in the results database every worker shares.

Each decision is one short transaction: it first touches the limit's row in ``arame_limits``,
which serialises the workers deciding for the same limit (a row lock on PostgreSQL and MySQL,
the write lock on SQLite), then reads and writes what it needs under that lock.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from arame import states
from arame.coordination.fair_queues import FairRegistry
from arame.coordination.flow_tables import FlowTables, hashed, limits, slots
from arame.flow.gcra import Decision, decide, given_back
from arame.flow.keys import SlotRequest
from arame.results.results_table import results

# A slot whose task row still reads PENDING or RETRY this long after it was taken belongs to a
# claim that did not happen (the task was revoked, or its worker died before the claim).
UNCLAIMED_GRACE = 10.0
MIN_WAIT = 0.25  # seconds a task over its concurrency limit waits in the broker at least
MAX_WAIT = 300.0  # ... and at most, however long the line of waiting tasks of its key


class LimitStore(FlowTables):
    """Token buckets and concurrency slots in the results database.

    Args:
        store: the results store whose database holds the tables (created on first use).
    """

    def take_tokens(self, task_name: str, rate: float, burst: int, count: int, now: float) -> Decision:
        """Take up to ``count`` starts of ``task_name`` under ``rate`` per second, for every worker."""
        self._create()
        name = hashed("rate", task_name)
        with self._store.transaction() as conn:
            tat, tail = self._locked(conn, name)
            decision = decide(tat, tail, now, rate, burst, count)
            conn.execute(
                limits.update().where(limits.c.name == name).values(tat=decision.tat, tail=decision.tail)
            )
        return decision

    def give_back(self, task_name: str, rate: float, count: int) -> None:
        """Return ``count`` starts of ``task_name`` taken but not used: the next ones may start sooner."""
        self._create()
        name = hashed("rate", task_name)
        with self._store.transaction() as conn:
            tat, _ = self._locked(conn, name)
            returned = given_back(tat, rate, count)
            conn.execute(limits.update().where(limits.c.name == name).values(tat=returned))

    def fair_queues(self, parents: Sequence[str]) -> dict[str, str]:
        """Fair shares: the registered sub-queues of ``parents`` (see ``arame.coordination.fair_queues``)."""
        return FairRegistry.of(self._store).active(parents)

    def forget_fair_queues(self, subqueues: Sequence[str]) -> list[str]:
        """Fair shares: forget those of ``subqueues`` (found empty) that no task needs."""
        return FairRegistry.of(self._store).forget(subqueues)

    def take_slots(self, requests: Sequence[SlotRequest], now: float) -> dict[str, float | None]:
        """Give slots to as many requests as their limits allow.

        A task that already holds a slot (its message came back after its worker died) keeps it.
        The others are lined up per key, in the key's row shared by every worker: each comes
        back ``spacing`` after the previous one, at least ``MIN_WAIT`` from now, at most ``MAX_WAIT``.

        Returns:
            For each task id, ``None`` if it got a slot, else when it may come back (epoch s).
        """
        self._create()
        groups: dict[str, list[SlotRequest]] = {}
        for request in requests:
            groups.setdefault(hashed(request.task_name, request.key), []).append(request)
        decided: dict[str, float | None] = {}
        with self._store.transaction() as conn:
            for key in sorted(groups):  # always in the same order: no deadlock between workers
                decided |= self._fill(conn, key, groups[key], now)
        return decided

    def _fill(
        self, conn: sa.Connection, key: str, requests: list[SlotRequest], now: float
    ) -> dict[str, float | None]:
        _, tail = self._locked(conn, key)
        _free_finished(conn, key, now)
        held = {row.task_id: row.slot for row in conn.execute(sa.select(slots).where(slots.c.key == key))}
        granted = {r.task_id for r in requests if r.task_id in held}
        free = [i for i in range(requests[0].limit) if i not in held.values()]
        rows = []
        for request in requests:
            if request.task_id in granted or not free:
                continue
            rows.append(
                {
                    "key": key,
                    "slot": free.pop(0),
                    "task_id": request.task_id,
                    "taken_at": now,
                    "expires_at": now + request.ttl,
                }
            )
            granted.add(request.task_id)
        if rows:
            conn.execute(slots.insert(), rows)
        decided: dict[str, float | None] = dict.fromkeys(granted)
        for request in requests:
            if request.task_id not in granted:
                decided[request.task_id] = due = min(max(tail, now + MIN_WAIT), now + MAX_WAIT)
                tail = due + request.spacing
        if len(decided) > len(granted):
            conn.execute(limits.update().where(limits.c.name == key).values(tail=tail))
        return decided

    def _locked(self, conn: sa.Connection, name: str) -> tuple[float, float]:
        """Lock the limit's row (made on first use) and read it."""
        touched = conn.execute(limits.update().where(limits.c.name == name).values(tat=limits.c.tat))
        if not touched.rowcount:
            conn.execute(self._store.insert_ignore(limits), {"name": name, "tat": 0.0, "tail": 0.0})
            conn.execute(limits.update().where(limits.c.name == name).values(tat=limits.c.tat))
        row = conn.execute(sa.select(limits.c.tat, limits.c.tail).where(limits.c.name == name)).one()
        return float(row.tat), float(row.tail)


def _free_finished(conn: sa.Connection, key: str, now: float) -> None:
    """Free the slots of this key whose tasks finished, were never claimed, or outlived the ttl.

    A slot is tied to its task's row: the outcome that makes the row terminal frees it in the
    same commit, and a row put back to PENDING or RETRY frees it after ``UNCLAIMED_GRACE``.
    """
    finished = sa.select(results.c.id).where(
        results.c.id == slots.c.task_id, results.c.state.in_(sorted(states.TERMINAL_STATES))
    )
    unclaimed = sa.select(results.c.id).where(
        results.c.id == slots.c.task_id, results.c.state.in_([states.PENDING, states.RETRY])
    )
    conn.execute(
        slots.delete().where(
            slots.c.key == key,
            sa.or_(
                slots.c.expires_at < now,
                finished.exists(),
                sa.and_(slots.c.taken_at < now - UNCLAIMED_GRACE, unclaimed.exists()),
            ),
        )
    )
