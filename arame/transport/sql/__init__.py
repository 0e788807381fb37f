"""arame's own SQL transport (PostgreSQL, MySQL/MariaDB, SQLite)."""

from arame.transport.sql.transport import LEASE_SECONDS, Transport

__all__ = ["LEASE_SECONDS", "Transport"]
