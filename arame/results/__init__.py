"""The results table: ResultStore writes and reads it, AsyncResult is a handle on one row."""

from arame.results.async_result import AsyncResult
from arame.results.reopen import RETRYABLE, count_pending_since, pending_before, reopen, still_pending
from arame.results.result_store import ResultRow, ResultStore

__all__ = [
    "RETRYABLE",
    "AsyncResult",
    "ResultRow",
    "ResultStore",
    "count_pending_since",
    "pending_before",
    "reopen",
    "still_pending",
]
