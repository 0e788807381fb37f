"""The outcome writer: group commit of outcomes, then their deliveries handed back for ack.

One thread commits whatever accumulated while the previous commit ran, so an idle worker
commits at once and a busy one commits many outcomes per transaction.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from arame.consumers.recorder import ResultRecorder
from arame.consumers.sanitise import sanitised
from arame.errors import ResultStoreError
from arame.states import Outcome

logger = logging.getLogger(__name__)

MAX_BATCH = 500


@dataclass(slots=True)
class Finished:
    """An outcome and the handle of the delivery that carried it."""

    outcome: Outcome
    delivery: Any


class OutcomeWriter:
    """Commits outcomes in batches and reports each delivery as committed or not.

    The consumer's writing thread: it batches outcomes into a ``ResultRecorder`` (the protocol the
    consumer sees of the results table; ``ResultStore`` implements it).

    Args:
        recorder: where outcomes are committed.
        on_done: called from the writer thread with ``(delivery, committed)`` for each outcome.
        retry_for: seconds to keep retrying a failing commit before giving the messages back.
    """

    def __init__(
        self,
        recorder: ResultRecorder,
        on_done: Callable[[Any, bool], None],
        *,
        retry_for: float = 60.0,
    ) -> None:
        self._recorder = recorder
        self._on_done = on_done
        self._retry_for = retry_for
        self._queue: queue.SimpleQueue[Finished | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="arame-writer", daemon=True)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def finished(self, outcome: Outcome, delivery: Any) -> None:
        """Queue an outcome; its delivery is reported once the outcome is committed."""
        self._queue.put(Finished(outcome, delivery))

    def stop(self) -> None:
        """Commit what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            finished = [item for item in batch if item is not None]
            stopping = len(finished) < len(batch)
            if finished:
                self._report(finished)

    def _report(self, finished: list[Finished]) -> None:
        """Commit what needs it and report every delivery; an atomic task's outcome was committed
        with its own writes already, and is only reported."""
        to_write = [item for item in finished if not item.outcome.committed]
        committed = self._commit([item.outcome for item in to_write]) if to_write else []
        for item, done in zip(to_write, committed, strict=True):
            self._on_done(item.delivery, done)
        if len(to_write) < len(finished):
            for item in finished:
                if item.outcome.committed:
                    self._on_done(item.delivery, True)

    def _commit(self, outcomes: list[Outcome]) -> list[bool]:
        """Commit a batch; whether each outcome was committed."""
        try:
            return [self._record(outcomes)] * len(outcomes)
        except ResultStoreError:
            # The database refused the data of one of them: the others are committed one by one
            # (never given back, so they never run again), the refused one sanitised.
            return [self._commit_alone(outcome) for outcome in outcomes]

    def _commit_alone(self, outcome: Outcome) -> bool:
        try:
            return self._record([outcome])
        except ResultStoreError as refused:
            logger.error(
                "the database refused the outcome of task %s; storing it sanitised: %s",
                outcome.task_id,
                refused,
            )
            try:
                return self._record([sanitised(outcome, str(refused))])
            except ResultStoreError as again:
                # Given back: it runs again, up to max_deliveries, then goes to the dead letters.
                logger.error(
                    "could not store task %s even sanitised; giving it back: %s", outcome.task_id, again
                )
                return False

    def _record(self, outcomes: list[Outcome]) -> bool:
        """Record, retrying while the database is down; whether it committed in time.

        Raises:
            ResultStoreError: the database refused the data itself (``unstorable``), or a value
                could not be converted for it (a time or a count out of its column's range):
                retrying the same write cannot help.
        """
        delay, deadline = 0.05, time.monotonic() + self._retry_for
        while True:
            try:
                self._recorder.record(outcomes)
                return True
            except ResultStoreError as exc:
                if exc.unstorable:
                    raise
                error: Exception = exc
            except (ValueError, ArithmeticError, TypeError) as exc:
                # A value its column cannot hold (a time past year 9999, NaN, a count over 64
                # bits for SQLite), refused before the database saw it: it would fail forever.
                raise ResultStoreError(f"a value cannot be stored: {exc}", unstorable=True) from exc
            except Exception as exc:  # noqa: BLE001 - any other failure: retry, then give the messages back
                error = exc
            if time.monotonic() + delay > deadline:
                logger.error("giving %d messages back to the broker: %s", len(outcomes), error)
                return False
            logger.warning("could not record %d outcomes, retrying in %.2fs: %s", len(outcomes), delay, error)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
