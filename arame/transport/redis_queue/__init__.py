"""arame's own Redis transport (``redis://``, ``rediss://``): leases, atomic fetch, pub/sub wake-ups."""

from arame.transport.redis_queue.channel import LEASE_SECONDS
from arame.transport.redis_queue.transport import Transport

__all__ = ["LEASE_SECONDS", "Transport"]
