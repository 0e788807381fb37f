"""SQL plumbing shared by the results store and the SQL transport: engines, SQLite, URLs, schema.

It sits below both, so ``arame.results`` and ``arame.transport`` never import each other.
"""

from arame.database.database_urls import database_url, default_database_url, describe_error, redact_url
from arame.database.engines import autocommit_engine, ping_when_idle
from arame.database.migrate import add_missing_columns, add_missing_indexes
from arame.database.schema import LongText, widen_mysql_text
from arame.database.sqlite import BUSY_TIMEOUT, connect_sqlite

__all__ = [
    "BUSY_TIMEOUT",
    "LongText",
    "add_missing_columns",
    "add_missing_indexes",
    "autocommit_engine",
    "connect_sqlite",
    "database_url",
    "default_database_url",
    "describe_error",
    "ping_when_idle",
    "redact_url",
    "widen_mysql_text",
]
