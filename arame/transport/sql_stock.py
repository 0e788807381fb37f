"""Kombu's stock SQLAlchemy transport, polled faster.

A stop-gap until arame's own SQL transport: the stock one polls an empty queue once a second,
which makes every idle round trip take up to a second.
"""

from __future__ import annotations

from kombu.transport import sqlalchemy as stock

POLLING_INTERVAL = 0.02


class Transport(stock.Transport):
    """The stock transport with a short polling interval."""

    polling_interval = POLLING_INTERVAL
