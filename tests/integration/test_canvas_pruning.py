"""The joins of finished workflows are pruned with the results, on every results database.

Each test has a results namespace of its own (``database_url``): a prune with
``result_expires=0`` deletes every finished row of the table it reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

import arame
from arame.coordination.joins_table import joins
from tests.cleanup import delete_queues
from tests.integration.canvas_flow import TIMEOUT, Flow


@pytest.fixture
def own_flow(database_url: str) -> Iterator[Flow]:
    """A flow on the memory broker whose results database is its own."""
    queue = f"arame-test-{uuid.uuid4().hex}"
    flow = Flow("memory://", database_url, queue)
    yield flow
    flow.app.close()
    delete_queues("memory://", [queue, f"{queue}-parked"])


def join_ids(flow: Flow) -> set[str]:
    with flow.app.results.connect() as conn:
        return set(conn.execute(sa.select(joins.c.id)).scalars())


def test_joins_are_pruned_once_their_workflow_finished_and_its_rows_expired(own_flow: Flow) -> None:
    flow = own_flow
    parked = f"{flow.queue}-parked"  # no worker reads it: that workflow stays open
    with flow.worker():
        fired = arame.chord([flow.add.s(1, 1), flow.add.s(2, 2)], flow.total.s()).delay()
        failed = (flow.add.s(1, 1) | flow.flaky.s("chain") | flow.mul.s(10)).delay()
        guarded = flow.add.apply_async((1, 1), link_error=flow.noted.s())  # succeeds: its errback never runs
        open_chain = (flow.add.s(1, 1).set(queue=parked) | flow.mul.s(3)).delay()
        assert fired.get(timeout=TIMEOUT) == 6 and guarded.get(timeout=TIMEOUT) == 2
        with pytest.raises(arame.TaskFailed):
            failed.get(timeout=TIMEOUT)
    assert len(join_ids(flow)) == 1 + 2 + 1 + 1

    assert flow.app.prune() == 0  # within result_expires: kept, and the failed chain can be retried
    assert len(join_ids(flow)) == 5

    flow.app.result_expires = timedelta(0)
    flow.app.prune()

    assert join_ids(flow) == {open_chain.id}  # its first step is still pending
    assert fired.state == arame.UNKNOWN and open_chain.state == arame.PENDING
