"""Rate limits as users write them: ``"100/s"``, ``"20/m"``, ``"500/h"`` or a number per second."""

from __future__ import annotations

from arame.errors import ConfigurationError

_PER = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
}


def parse_rate(rate: str | float | int) -> float:
    """Tasks per second for a rate limit.

    Args:
        rate: ``"N/s"``, ``"N/m"``, ``"N/h"`` (Celery's spelling), or a number (per second).

    Raises:
        ConfigurationError: not a rate, or not positive.
    """
    if isinstance(rate, bool):
        raise ConfigurationError(f"rate_limit must be like '100/s', '20/m' or '500/h', not {rate!r}")
    if isinstance(rate, int | float):
        count, per = float(rate), 1.0
    else:
        amount, _, unit = str(rate).strip().partition("/")
        try:
            count, per = float(amount), _PER[unit.strip().lower() or "s"]
        except (ValueError, KeyError) as exc:
            raise ConfigurationError(
                f"rate_limit must be like '100/s', '20/m' or '500/h', not {rate!r}"
            ) from exc
    if not count > 0 or count == float("inf"):
        raise ConfigurationError(f"rate_limit must be a positive rate, not {rate!r}")
    return count / per
