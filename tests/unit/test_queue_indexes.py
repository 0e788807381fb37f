"""The SQL broker's fetch walks an index in its own order, on new tables and older ones alike."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from arame.transport.sql.messages_table import TABLE_NAME, engine_for, messages

FETCH_ORDER = (
    f"SELECT id FROM {TABLE_NAME} WHERE queue = 'q' AND lease_until IS NULL"
    " ORDER BY priority DESC, id LIMIT 10"
)


def plan_of(engine: sa.Engine, query: str) -> str:
    with engine.connect() as conn:
        return " | ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}"))


def test_an_older_queue_table_trades_its_fetch_index_for_one_in_the_fetch_order(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/broker.db"
    old_engine = sa.create_engine(url)
    old = sa.MetaData()
    old_table = sa.Table(TABLE_NAME, old, *(column._copy() for column in messages.columns))
    sa.Index("ix_arame_queue_fetch", old_table.c.queue, old_table.c.priority, old_table.c.id)
    old.create_all(old_engine)
    assert "TEMP B-TREE" in plan_of(old_engine, FETCH_ORDER)  # the old index still needs a sort
    old_engine.dispose()

    engine = engine_for(url)

    names = {index["name"] for index in sa.inspect(engine).get_indexes(TABLE_NAME)}
    assert "ix_arame_queue_next" in names
    assert "ix_arame_queue_fetch" not in names
    plan = plan_of(engine, FETCH_ORDER)
    assert "ix_arame_queue_next" in plan
    assert "TEMP B-TREE" not in plan
