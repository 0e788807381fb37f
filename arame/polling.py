"""Poller: a look now, then one every period on a daemon thread (the database watches' loop)."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Poller:
    """Calls ``look`` at ``start()`` and then every ``period`` seconds until ``stop()``.

    Args:
        name: the thread's name.
        period: seconds between looks.
        look: reads what the watch keeps; must not raise (it logs and keeps its last answer).
        after: called on the thread once it stops (to close a connection of its own).
    """

    def __init__(
        self, name: str, period: float, look: Callable[[], None], after: Callable[[], None] | None = None
    ) -> None:
        self._period = period
        self._look = look
        self._after = after
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def started(self) -> bool:
        """Whether ``start()`` was called."""
        return self._thread.ident is not None

    def start(self) -> None:
        """Look now (the caller relies on a first answer at once), then every period."""
        self._look()
        self._thread.start()

    def stop(self) -> None:
        """Stop looking."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self._look()
        if self._after is not None:
            self._after()
