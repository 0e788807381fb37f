"""Global rate and concurrency limits, kept in the results database every worker shares.

Each decision is one short transaction: it first touches the limit's row in ``arame_limits``,
which serialises the workers deciding for the same limit (a row lock on PostgreSQL and MySQL,
the write lock on SQLite), then reads and writes what it needs under that lock.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import sqlalchemy as sa

from arame import states
from arame.flow.gcra import Decision, decide
from arame.flow.keys import SlotRequest
from arame.results.limit_tables import hashed, limits, limits_metadata, slots
from arame.results.store import ResultStore
from arame.results.table import results

# A slot whose task row still reads PENDING or RETRY this long after it was taken belongs to a
# claim that did not happen (the task was revoked, or its worker died before the claim).
UNCLAIMED_GRACE = 10.0


class LimitStore:
    """Token buckets and concurrency slots in the results database.

    Args:
        store: the results store whose database holds the tables (created on first use).
    """

    def __init__(self, store: ResultStore) -> None:
        self._store = store
        self._ready = False
        self._lock = threading.Lock()

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

    def take_slots(self, requests: Sequence[SlotRequest], now: float) -> set[str]:
        """Give slots to as many requests as their limits allow; return the task ids that got one.

        A task that already holds a slot (its message came back after its worker died) keeps it.
        """
        self._create()
        groups: dict[str, list[SlotRequest]] = {}
        for request in requests:
            groups.setdefault(hashed(request.task_name, request.key), []).append(request)
        granted: set[str] = set()
        with self._store.transaction() as conn:
            for key in sorted(groups):  # always in the same order: no deadlock between workers
                granted |= self._fill(conn, key, groups[key], now)
        return granted

    def _fill(self, conn: sa.Connection, key: str, requests: list[SlotRequest], now: float) -> set[str]:
        self._locked(conn, key)
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
        return granted

    def _locked(self, conn: sa.Connection, name: str) -> tuple[float, float]:
        """Lock the limit's row (made on first use) and read it."""
        touched = conn.execute(limits.update().where(limits.c.name == name).values(tat=limits.c.tat))
        if not touched.rowcount:
            conn.execute(self._store.insert_ignore(limits), {"name": name, "tat": 0.0, "tail": 0.0})
            conn.execute(limits.update().where(limits.c.name == name).values(tat=limits.c.tat))
        row = conn.execute(sa.select(limits.c.tat, limits.c.tail).where(limits.c.name == name)).one()
        return float(row.tat), float(row.tail)

    def _create(self) -> None:
        if self._ready:
            return
        with self._lock:
            try:
                limits_metadata.create_all(self._store.engine, checkfirst=True)
            except sa.exc.SQLAlchemyError:
                # Another process may have created them between the check and the CREATE.
                if not sa.inspect(self._store.engine).has_table(slots.name):
                    raise
        self._ready = True


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
