"""A limit on failed logins per client, so the token cannot be guessed at network speed."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

#: Failed logins a client may make within ``WINDOW`` seconds before it must wait.
ALLOWED_FAILURES, WINDOW = 5, 60.0
#: Clients remembered at most; beyond, the least recently failing are forgotten.
MAX_CLIENTS = 10_000


class FailedLogins:
    """Counts each client's failed logins over a sliding window.

    Args:
        allowed: failures allowed within ``window`` seconds; the next attempt (even with the
            right token) waits until the oldest of them is ``window`` seconds old.
        window: the window, in seconds.
        clock: monotonic seconds (tests may pass their own).
    """

    def __init__(
        self,
        allowed: int = ALLOWED_FAILURES,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allowed, self.window, self.clock = allowed, window, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()  # a mounted dashboard may be served from several threads

    def wait(self, client: str) -> int:
        """Seconds ``client`` must wait before trying again; 0: it may try now."""
        with self._lock:
            failures = self._recent(client)
            if len(failures) < self.allowed:
                return 0
            return max(1, math.ceil(failures[0] + self.window - self.clock()))

    def failed(self, client: str) -> None:
        """Count a failed attempt of ``client``."""
        with self._lock:
            failures = self._failures.pop(client, None) or deque(maxlen=self.allowed)
            failures.append(self.clock())
            self._failures[client] = failures  # re-inserted: the dict stays oldest-first
            while len(self._failures) > MAX_CLIENTS:
                del self._failures[next(iter(self._failures))]

    def succeeded(self, client: str) -> None:
        """Forget ``client``'s failures."""
        with self._lock:
            self._failures.pop(client, None)

    def _recent(self, client: str) -> deque[float]:
        failures = self._failures.get(client, deque())
        horizon = self.clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures
