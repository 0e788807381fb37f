"""Slots: the threads that run tasks, each with a record of the tasks it holds (a dead one loses none)."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from arame.consumers.pace import Pace
from arame.message import TaskMessage
from arame.transport import Delivery

logger = logging.getLogger(__name__)

Held = tuple[TaskMessage, Delivery]


@dataclass(slots=True)
class Slot:
    """A slot thread and the batch it took from the ready queue.

    Attributes:
        thread: the thread running the slot's loop.
        batch: the tasks it claimed last.
        done: how many of ``batch`` it handed to the writer or gave back.
        running: ``batch[done]`` is being run.
        error: what ended the thread, when it died.
    """

    thread: threading.Thread = field(init=False)
    batch: list[Held] = field(default_factory=list)
    done: int = 0
    running: bool = False
    error: BaseException | None = None

    def dead(self) -> bool:
        """Whether the thread was started and has ended."""
        return bool(self.thread.ident) and not self.thread.is_alive()

    def left_behind(self) -> tuple[Held | None, list[Held]]:
        """After it died: the task it was running (if any), and the ones it had not started."""
        held = self.batch[self.done :]
        if held and self.running:
            return held[0], held[1:]
        return None, held


class Slots:
    """The slot threads and the ready queue they take from; a slot that dies is replaced.

    Each slot takes the next queued tasks (as many as ``Pace`` says), has them claimed, runs the
    claimed ones and skips the others (revoked, or finished already).

    Args:
        count: how many slot threads.
        pace: how many tasks a slot takes at once.
        stopping: set when the consumer stops; a slot then takes nothing more.
        claim: marks a batch started; returns the ids that may run.
        run: runs one claimed task and hands on its outcome.
        skip: hands back a task that must not run (its row says so).
        admit: keeps the tasks of a batch that may run now (the others were handed back to
            wait in the broker, see ``Extension.before_claim``).
    """

    def __init__(
        self,
        count: int,
        pace: Pace,
        stopping: threading.Event,
        claim: Callable[[list[Held]], set[str]],
        run: Callable[[TaskMessage, Delivery], None],
        skip: Callable[[TaskMessage, Delivery], None],
        admit: Callable[[list[Held]], list[Held]] | None = None,
    ) -> None:
        self.count = count
        self._pace = pace
        self._stopping = stopping
        self._claim = claim
        self._run = run
        self._skip = skip
        self._admit = admit
        self._ready: deque[Held] = deque()
        self._ready_changed = threading.Condition()
        self._slots = [self._new_slot(i) for i in range(count)]

    def start(self) -> None:
        """Start every slot thread."""
        for slot in self._slots:
            slot.thread.start()

    def put(self, message: TaskMessage, delivery: Delivery) -> None:
        """Queue an admitted task for the next free slot."""
        with self._ready_changed:
            self._ready.append((message, delivery))
            self._ready_changed.notify()

    def wake(self) -> None:
        """Wake waiting slots (to see ``stopping``)."""
        with self._ready_changed:
            self._ready_changed.notify_all()

    def take_unstarted(self) -> list[Held]:
        """Empty the ready queue (once stopping) and wake the slots; return what no slot took."""
        with self._ready_changed:
            unstarted, self._ready = list(self._ready), deque()
            self._ready_changed.notify_all()
        return unstarted

    def close(self) -> None:
        """Nothing to do: the slot threads end once ``stopping`` is set and their tasks return."""

    def replace_dead(
        self,
        fail: Callable[[TaskMessage, Delivery, str], None],
        settle: Callable[[Delivery, bool], None],
    ) -> None:
        """Start another thread for each slot thread that died (a bug, an exception past every
        handler). The task it was running is failed with ``fail`` (it may kill the next slot
        too); the ones it held but had not started are given back with ``settle``.
        """
        for index, slot in enumerate(self._slots):
            if not slot.dead():
                continue
            running, unstarted = slot.left_behind()
            self._slots[index] = self._new_slot(index)
            self._slots[index].thread.start()
            if running is not None:
                fail(*running, f"the worker thread running it died: {slot.error!r}")
            for _, delivery in unstarted:
                settle(delivery, False)
            logger.error(
                "slot %s died; starting another (%d task(s) given back)", slot.thread.name, len(unstarted)
            )

    def _new_slot(self, index: int) -> Slot:
        slot = Slot()
        slot.thread = threading.Thread(
            target=self._slot, args=(slot,), name=f"arame-slot-{index}", daemon=True
        )
        return slot

    def _slot(self, slot: Slot) -> None:
        """One slot's loop: take queued tasks, claim them, run the claimed ones."""
        try:
            while batch := self._take():
                slot.batch, slot.done = batch, 0
                if self._admit is not None:
                    batch = slot.batch = self._admit(batch)
                claimed = self._claim(batch)
                for message, delivery in batch:
                    if message.id in claimed:
                        slot.running = True
                        self._run(message, delivery)
                        slot.running = False
                    else:
                        # The row decides: a task revoked, or redelivered after it finished, does not run.
                        self._skip(message, delivery)
                    slot.done += 1
                slot.batch = []
        except BaseException as exc:  # whatever it is: the draining thread replaces this slot
            slot.error = exc
            logger.critical("slot %s died: %r", slot.thread.name, exc, exc_info=True)

    def _take(self) -> list[Held]:
        """The next tasks for this slot (as many as ``Pace`` says); none once stopping."""
        with self._ready_changed:
            while not self._ready and not self._stopping.is_set():
                self._ready_changed.wait()
            if self._stopping.is_set():
                return []  # what is still queued goes back to the broker (see Consumer._finish)
            count = self._pace.claim_size(len(self._ready), self.count)
            return [self._ready.popleft() for _ in range(min(count, len(self._ready)))]
