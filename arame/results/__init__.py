"""The results table: ResultStore writes and reads it, AsyncResult is a handle on one row."""

from arame.results.async_result import AsyncResult
from arame.results.pauses import Pauses
from arame.results.reopen import RETRYABLE, count_pending_since, pending_before, reopen, still_pending
from arame.results.store import ResultRow, ResultStore
from arame.results.ticks import TickLedger
from arame.results.workers import LOST_AFTER, WorkerBoard, WorkerInfo

__all__ = [
    "LOST_AFTER",
    "RETRYABLE",
    "AsyncResult",
    "ResultRow",
    "ResultStore",
    "Pauses",
    "TickLedger",
    "WorkerBoard",
    "WorkerInfo",
    "count_pending_since",
    "pending_before",
    "reopen",
    "still_pending",
]
