"""``async def`` tasks in the thread and process pools: one event loop per process, on a thread.

A slot that runs an async task hands the coroutine to the loop and waits for it, one at a time
per slot. Whatever the watchdog raises in the waiting slot (a soft or hard time limit) cancels
the coroutine too. The asyncio pool runs them differently, many at once on a loop of its own
(``arame.consumers.aiopool``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Coroutine
from typing import Any

#: Seconds between checks of a waiting slot for a time limit raised in it.
WATCH_INTERVAL = 0.05

_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0
_lock = threading.Lock()


def event_loop() -> asyncio.AbstractEventLoop:
    """This process's loop for async tasks, started on first use (and again in a forked child)."""
    global _loop, _loop_pid  # one loop per process, made again in a forked child
    if _loop is None or _loop_pid != os.getpid():
        with _lock:
            if _loop is None or _loop_pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="arame-asyncio", daemon=True).start()
                _loop, _loop_pid = loop, os.getpid()
    return _loop


def run_coroutine(coroutine: Coroutine[Any, Any, Any], *, watched: bool) -> Any:
    """Run ``coroutine`` on the process's loop and return its value (or raise its exception).

    Args:
        coroutine: what the task function returned.
        watched: the task has a time limit: wait in short steps, so that the exception the
            watchdog raises in this thread is seen promptly; it cancels the coroutine.
    """
    future = asyncio.run_coroutine_threadsafe(coroutine, event_loop())
    try:
        if not watched:
            return future.result()
        while True:
            try:
                return future.result(WATCH_INTERVAL)
            except concurrent.futures.TimeoutError:
                continue
    except BaseException:
        future.cancel()  # a time limit (or a stop) raised here: the coroutine must not run on
        raise
