"""The shared SQL state beside the results table, in the same database: what lets workers and
features agree (rate and concurrency limits, deduplication keys, fair sub-queues, workflow
joins, paused queues, the worker registry, periodic ticks)."""

from arame.coordination.pauses import Pauses
from arame.coordination.ticks import TickLedger
from arame.coordination.worker_registry import LOST_AFTER, WorkerBoard, WorkerInfo

__all__ = ["LOST_AFTER", "Pauses", "TickLedger", "WorkerBoard", "WorkerInfo"]
