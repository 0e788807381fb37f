"""Bring a results table made by an older arame up to date, in place, while others use it."""

from __future__ import annotations

import logging

import sqlalchemy as sa

logger = logging.getLogger(__name__)


def add_missing_columns(engine: sa.Engine, table: sa.Table) -> list[str]:
    """Add the nullable columns ``table`` declares and the database's table lacks; return their names.

    Safe when several processes open the same old table at once: a column another process added
    between the look and the ALTER is not an error.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: a column is still missing after trying to add it.
    """
    present = {column["name"] for column in sa.inspect(engine).get_columns(table.name)}
    missing = [column for column in table.columns if column.name not in present]
    added = []
    for column in missing:
        if not column.nullable:
            raise sa.exc.InvalidRequestError(f"{table.name} lacks the required column {column.name}")
        kind = column.type.compile(dialect=engine.dialect)
        preparer = engine.dialect.identifier_preparer
        statement = (
            f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {preparer.format_column(column)} {kind}"
        )
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(statement)
        except sa.exc.SQLAlchemyError:
            columns = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
            if column.name not in columns:
                raise
            continue  # another process added it first
        logger.info("added column %s to %s", column.name, table.name)
        added.append(column.name)
    return added


def add_missing_indexes(engine: sa.Engine, table: sa.Table) -> list[str]:
    """Create the indexes ``table`` declares and the database's table lacks; return their names.

    Safe when several processes open the same old table at once, like ``add_missing_columns``.
    """
    present = {index["name"] for index in sa.inspect(engine).get_indexes(table.name)}
    added = []
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        if index.name in present:
            continue
        try:
            index.create(engine)
        except sa.exc.SQLAlchemyError:
            if index.name not in {i["name"] for i in sa.inspect(engine).get_indexes(table.name)}:
                raise
            continue  # another process created it first
        logger.info("created index %s on %s", index.name, table.name)
        added.append(str(index.name))
    return added
