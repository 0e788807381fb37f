"""Flow control: rate limit parsing and concurrency keys, and the limits applied at claim time.

The shared state (token buckets, concurrency slots, deduplication keys) lives in the results
database (``arame.coordination.flow_limits``); ``FlowLimits`` (``arame.flow.limits_gate``), an
extension, applies it before a worker claims a batch.
"""

from arame.flow.keys import concurrency_key_of
from arame.flow.rates import parse_rate

__all__ = ["concurrency_key_of", "parse_rate"]
