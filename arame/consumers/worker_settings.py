"""WorkerSettings: what a worker is asked to do, built once and read by the Worker and its Consumers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from arame.errors import ConfigurationError
from arame.extensions import Extensions

if TYPE_CHECKING:
    from arame.consumers.companions import Companion

POOLS = ("thread", "process", "asyncio")  # asyncio: async tasks on one event loop (AsyncPool)
SHUTDOWN_TIMEOUT = 30.0  # seconds running tasks get to finish after a stop


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """A worker's settings (``App.worker`` builds them from its arguments and the App).

    Attributes:
        queues: queues to consume.
        concurrency: tasks run at once: threads in the thread pool, children in the process pool,
            coroutines (and sync tasks on threads) in the asyncio pool.
        pool: ``"thread"``, ``"process"`` or ``"asyncio"`` (async tasks as asyncio tasks on one
            event loop; see ``AsyncPool``).
        burst: return once the queues are empty and nothing runs.
        shutdown_timeout: seconds running tasks get to finish after a stop; a second SIGTERM or
            SIGINT stops at once. Unfinished messages are delivered again.
        extensions: the features' hooks the worker calls (see ``arame.extensions``).
        companions: run beside the consumers in the main process (the outbox relay).
    """

    queues: Sequence[str]
    concurrency: int = 1
    pool: str = "thread"
    burst: bool = False
    shutdown_timeout: float = SHUTDOWN_TIMEOUT
    extensions: Extensions = field(default_factory=Extensions)
    companions: Sequence[Companion] = ()

    def __post_init__(self) -> None:
        if self.pool not in POOLS:
            raise ConfigurationError(f"pool must be one of {', '.join(POOLS)}, not {self.pool!r}")
        if self.concurrency < 1:
            raise ConfigurationError(f"concurrency must be at least 1, not {self.concurrency}")
        # Frozen all the way down: a caller's list changed later changes nothing here.
        object.__setattr__(self, "queues", tuple(self.queues))
        object.__setattr__(self, "companions", tuple(self.companions))

    @property
    def slots_per_consumer(self) -> int:
        """Tasks one consumer runs at once: each process-pool child runs one."""
        return 1 if self.pool == "process" else self.concurrency
