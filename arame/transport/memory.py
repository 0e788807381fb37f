"""The in-process ``memory://`` transport's shared state."""

from __future__ import annotations

from kombu.transport import memory


def reset_memory_transport() -> None:
    """Empty every ``memory://`` queue.

    Kombu keeps them on the channel class, so they outlive ``Connection.close()`` and would
    leak from one test into the next.
    """
    memory.Channel.queues.clear()
    memory.Channel.events.clear()
