"""One app's part of a shared results database: the rows and workers of its queues.

Several services may keep their rows in one results database; a view of one app covers its
queues and their fair-share sub-queues (``<queue>.fair.<key>-<hash>``), nothing else.
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa

from arame.subqueues import MARK, fair_parent


def of_queues(column: sa.ColumnElement[str], queues: Collection[str]) -> sa.ColumnElement[bool]:
    """``column`` names one of ``queues`` or a fair sub-queue of one."""
    names = sorted(queues)
    subqueues = [column.startswith(name + MARK, autoescape=True) for name in names]
    return sa.or_(column.in_(names), *subqueues)


def covers(queues: Collection[str] | None, queue: str) -> bool:
    """Whether ``queue`` is one of ``queues`` (``None``: every queue) or a fair sub-queue of one."""
    return queues is None or queue in queues or fair_parent(queue) in queues
