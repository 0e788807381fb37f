"""Column types and in-place upgrades shared by the results table and the SQL transport's table."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

logger = logging.getLogger(__name__)

#: Text without a small limit: MySQL's TEXT holds only 64 KiB, less than one message may be.
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def widen_mysql_text(engine: sa.Engine, table: sa.Table) -> list[str]:
    """On MySQL/MariaDB, turn TEXT columns that ``table`` declares LONGTEXT into LONGTEXT; return them.

    A table made by an older arame has TEXT there, and refuses any message over 64 KiB.
    Elsewhere it does nothing. Idempotent, so processes opening the table together do no harm.
    """
    if engine.dialect.name not in {"mysql", "mariadb"}:
        return []
    present = {column["name"]: column for column in sa.inspect(engine).get_columns(table.name)}
    widened = []
    for column in table.columns:
        found = present.get(column.name)
        wanted = column.type.compile(dialect=engine.dialect)
        if found is None or wanted != "LONGTEXT" or "LONGTEXT" in str(found["type"]).upper():
            continue
        preparer = engine.dialect.identifier_preparer
        null = "NULL" if column.nullable else "NOT NULL"
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"ALTER TABLE {preparer.format_table(table)} "
                f"MODIFY {preparer.format_column(column)} LONGTEXT {null}"
            )
        logger.info("widened %s.%s to LONGTEXT", table.name, column.name)
        widened.append(column.name)
    return widened
