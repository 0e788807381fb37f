"""arame's own Redis transport (``redis://``, ``rediss://``): leases, atomic fetch, pub/sub wake-ups."""

from arame.transport.redis_queue.transport import LEASE_SECONDS, Transport

__all__ = ["LEASE_SECONDS", "Transport"]
