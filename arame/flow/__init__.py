"""Flow control that needs no server: rate limit parsing and concurrency keys.

The shared state (token buckets, concurrency slots, deduplication keys) lives in the results
database (``arame.coordination.flow_limits``); the consumer applies it at claim time
(``arame.consumers.gate``).
"""

from arame.flow.keys import concurrency_key_of
from arame.flow.rates import parse_rate

__all__ = ["concurrency_key_of", "parse_rate"]
