"""A user's own Extension sees a real publish and a real outcome through the seam's hooks."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace

import pytest
import sqlalchemy as sa

import arame
from arame.message import TaskMessage
from arame.states import Outcome
from arame.testing import reset_memory_transport, run_until_empty


class Watching(arame.Extension):
    """Notes every hook the publish and the outcome go through, and acts in each."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, tuple[str, ...]]] = []
        self.in_transaction: list[bool] = []

    def on_publish(self, messages: Sequence[TaskMessage]) -> AbstractContextManager[Sequence[TaskMessage]]:
        @contextmanager
        def around() -> Iterator[Sequence[TaskMessage]]:
            self.seen.append(("on_publish", tuple(m.id for m in messages)))
            yield [replace(m, priority=7) for m in messages]  # what is written and published
            self.seen.append(("published", tuple(m.id for m in messages)))

        return around()

    def in_row_transaction(self, messages: Sequence[TaskMessage]) -> Callable[[sa.Connection], None]:
        ids = tuple(m.id for m in messages)

        def write(conn: sa.Connection) -> None:
            self.in_transaction.append(conn.in_transaction())
            self.seen.append(("in_row_transaction", ids))

        return write

    def records(self, outcomes: Sequence[Outcome]) -> bool:
        return True

    def on_record(
        self, conn: sa.Connection, outcomes: Sequence[Outcome], write: Callable[[], None]
    ) -> Sequence[TaskMessage]:
        write()
        self.in_transaction.append(conn.in_transaction())
        self.seen.append(("on_record", tuple(o.task_id for o in outcomes)))
        return ()


@pytest.fixture
def watched(results_url: str) -> Iterator[tuple[arame.App, Watching]]:
    reset_memory_transport()
    watching = Watching()
    app = arame.App("seam", broker="memory://", results=results_url, extensions=[watching])
    yield app, watching
    app.close()
    reset_memory_transport()


def test_a_users_extension_sees_the_publish_its_rows_and_the_outcome(
    watched: tuple[arame.App, Watching],
) -> None:
    app, watching = watched

    @app.task(name="seam.add")
    def add(x: int, y: int) -> int:
        return x + y

    handle = add.delay(2, 3)
    run_until_empty(app)

    assert handle.get(timeout=5) == 5
    assert watching.seen == [
        ("on_publish", (handle.id,)),
        ("in_row_transaction", (handle.id,)),
        ("published", (handle.id,)),
        ("on_record", (handle.id,)),
    ]
    assert watching.in_transaction == [True, True]
    row = handle.row
    assert row is not None and row.message is not None
    assert row.message.priority == 7  # the row carries the message the extension gave back


def test_a_users_extension_sees_a_batch_publish_once(watched: tuple[arame.App, Watching]) -> None:
    app, watching = watched

    @app.task(name="seam.double")
    def double(x: int) -> int:
        return 2 * x

    handles = double.map([(1,), (2,)])
    ids = tuple(h.id for h in handles)
    assert watching.seen == [("on_publish", ids), ("in_row_transaction", ids), ("published", ids)]
