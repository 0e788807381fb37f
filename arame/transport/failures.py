"""The one place where a broker's or Kombu's exception becomes arame's TransportError.

Every broad ``except Exception`` in the transport package raises ``broker_error(...)``: the text
says what failed and where, the cause is the driver's first line with any password masked, and
the original exception is chained by the caller (``raise broker_error(...) from exc``).
"""

from __future__ import annotations

import logging

from arame.errors import TransportError
from arame.transport.broker_urls import describe_error

logger = logging.getLogger(__name__)


def broker_error(what: str, safe_url: str, exc: BaseException) -> TransportError:
    """``TransportError("{what} {safe_url}: {cause}")`` for ``exc``, carrying the URL.

    Args:
        what: what failed, worded to end before the URL (``"could not consume from"``).
        safe_url: the broker's printable URL.
        exc: what was raised.
    """
    return TransportError(f"{what} {safe_url}: {describe_error(exc)}", url=safe_url)


def consumer_timed_out(exc: BaseException) -> bool:
    """Whether RabbitMQ closed the channel for a delivery unacknowledged past ``consumer_timeout``.

    It says ``PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out``.
    """
    text = str(exc)
    return "delivery acknowledgement on channel" in text and "timed out" in text


def log_consumer_timeout(exc: BaseException) -> None:
    """Say what a consumer timeout means, when ``exc`` is one (the driver's text does not)."""
    if consumer_timed_out(exc):
        logger.warning(
            "RabbitMQ closed the channel: a delivery stayed unacknowledged longer than its "
            "consumer_timeout (30 min by default); the broker delivers the unacknowledged "
            "messages again, and this worker reconnects. Raise consumer_timeout above the "
            "longest task (see docs/scaling.md)"
        )
