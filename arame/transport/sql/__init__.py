"""arame's own SQL transport (PostgreSQL, MySQL/MariaDB, SQLite)."""

from arame.transport.sql.channel import LEASE_SECONDS
from arame.transport.sql.transport import Transport

__all__ = ["LEASE_SECONDS", "Transport"]
