"""The checks on what a publish asks for (priority, countdown, eta, expires), one set for
``Task.apply_async`` and for workflow signatures."""

from __future__ import annotations

from datetime import datetime, timedelta

from arame.errors import ConfigurationError
from arame.message import MAX_PRIORITY, MIN_PRIORITY


def check_priority(priority: int | None) -> None:
    """Refuse a priority outside arame's one scale, 0 (lowest) .. 9 (highest)."""
    if priority is not None and not (MIN_PRIORITY <= priority <= MAX_PRIORITY):
        raise ConfigurationError(f"priority must be between 0 (lowest) and 9 (highest), not {priority}")


def due_time(countdown: float | None, eta: datetime | None) -> float | None:
    """Epoch seconds a publish with ``countdown`` or ``eta`` is due at (``None``: now)."""
    if countdown is not None and eta is not None:
        raise ConfigurationError("give countdown or eta, not both")
    if eta is not None:
        return aware(eta, "eta").timestamp()
    if countdown is not None:
        if countdown < 0:
            raise ConfigurationError(f"countdown must be >= 0 seconds, not {countdown}")
        return datetime.now().timestamp() + countdown
    return None


def expiry_time(expires: float | timedelta | datetime | None) -> float | None:
    """Epoch seconds after which a publish with ``expires`` is not run (``None``: never)."""
    if expires is None:
        return None
    if isinstance(expires, datetime):
        return aware(expires, "expires").timestamp()
    seconds = expires.total_seconds() if isinstance(expires, timedelta) else float(expires)
    return datetime.now().timestamp() + seconds


def aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ConfigurationError(
            f"{what} must be an aware datetime (with tzinfo, e.g. datetime.now(timezone.utc)); "
            "a naive one is ambiguous"
        )
    return moment
