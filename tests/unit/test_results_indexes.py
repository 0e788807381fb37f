"""A results table made before the dashboard gains the task list's indexes in place."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from arame.results import ResultStore
from arame.results.results_table import results

LIST_INDEXES = {"ix_arame_results_created", "ix_arame_results_task_created", "ix_arame_results_queue_created"}


def test_an_older_results_table_gains_the_list_indexes_when_a_store_opens_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    engine = sa.create_engine(url)
    old = sa.MetaData()
    sa.Table(results.name, old, *(column._copy() for column in results.columns))
    old.create_all(engine)  # the columns, without any index but the primary key
    assert not {i["name"] for i in sa.inspect(engine).get_indexes(results.name)} & LIST_INDEXES

    store = ResultStore(url)
    try:
        assert store.counts() == {}
    finally:
        store.close()

    present = {i["name"] for i in sa.inspect(engine).get_indexes(results.name)}
    assert present >= LIST_INDEXES | {"ix_arame_results_state_created"}
    engine.dispose()
