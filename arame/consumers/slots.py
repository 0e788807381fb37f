"""A slot's record: its thread and the tasks it holds, so that a dead slot loses none of them."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from arame.message import TaskMessage
from arame.transport import Delivery

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
