"""The results table: ResultStore writes and reads it, AsyncResult is a handle on one row."""

from arame.results.async_result import AsyncResult
from arame.results.reopen import RETRYABLE, pending_before, reopen, still_pending
from arame.results.store import ResultRow, ResultStore
from arame.results.ticks import TickLedger

__all__ = [
    "RETRYABLE",
    "AsyncResult",
    "ResultRow",
    "ResultStore",
    "TickLedger",
    "pending_before",
    "reopen",
    "still_pending",
]
