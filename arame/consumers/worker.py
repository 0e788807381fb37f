"""Worker: runs consumers in this process (thread pool) or in child processes (process pool)."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any, NoReturn

from arame.consumers.admission import Admission
from arame.consumers.companions import alongside
from arame.consumers.consumer import Consumer
from arame.consumers.recorder import ResultRecorder
from arame.consumers.worker_settings import WorkerSettings
from arame.errors import ConfigurationError, TransportError
from arame.transport import BrokerSpec

logger = logging.getLogger(__name__)

STOP_GRACEFULLY, STOP_NOW = signal.SIGUSR1, signal.SIGUSR2  # supervisor -> child
EXIT_OK, EXIT_GAVE_UP = 0, 3


class Worker:
    """Consumes queues and runs their tasks until stopped.

    ``run()`` blocks in the foreground and handles SIGTERM/SIGINT (stop fetching, finish running
    tasks, acknowledge them, return). ``start()``/``stop()`` run it on a thread inside a service.

    Args:
        spec: the broker.
        admission: the registry and the checks a message passes before it runs.
        recorder: where outcomes are committed; must be usable after a fork (process pool).
        settings: its queues, pool, concurrency and the rest (see ``WorkerSettings``).
    """

    def __init__(
        self, spec: BrokerSpec, admission: Admission, recorder: ResultRecorder, settings: WorkerSettings
    ) -> None:
        if settings.pool == "process" and not spec.shared_across_processes:
            raise ConfigurationError(f"{spec.safe_url} lives inside one process; use the thread pool")
        self.spec = spec
        self.settings = settings
        self.queues: Sequence[str] = list(settings.queues)
        self.concurrency = settings.concurrency
        self.pool = settings.pool
        self._admission = admission
        self._recorder = recorder
        self._stopping = threading.Event()
        self._consumer: Consumer | None = None
        self._thread: threading.Thread | None = None
        self._children: list[Any] = []

    def run(self) -> int:
        """Consume in the foreground until stopped; return the exit code (0 after a clean stop)."""
        restore = self._handle_signals()
        try:
            with self.settings.extensions.running(self), alongside(self.settings.companions):
                if self.pool in ("thread", "asyncio"):
                    return self._run_consumer()
                return _Supervisor(self).run()
        finally:
            restore()

    def start(self) -> None:
        """Run the worker (thread pool) on a background thread; returns at once."""
        if self.pool not in ("thread", "asyncio"):
            raise ConfigurationError("start() runs the thread pool; use run() for the process pool")
        # Entered here, not on the thread: once start() returns, the extensions are running (the
        # worker registered, its metrics port bound), and a failure to start raises here.
        running = ExitStack()
        running.enter_context(self.settings.extensions.running(self))

        def run_then_leave() -> None:
            with running, alongside(self.settings.companions):
                self._run_consumer()

        self._thread = threading.Thread(target=run_then_leave, name="arame-worker", daemon=True)
        self._thread.start()

    def child_pids(self) -> list[int]:
        """The pids of the process pool's children (none in the other pools)."""
        return [child.pid for child in self._children]

    def stop(self, timeout: float | None = None, *, now: bool = False) -> None:
        """Stop fetching, let running tasks finish and be acknowledged, then return.

        Args:
            timeout: seconds to wait for a ``start()``-ed worker's thread.
            now: do not wait for running tasks; their messages are delivered again.
        """
        self._stopping.set()
        if self._consumer is not None:
            self._consumer.stop(now=now)
        for child in self._children:
            if child.is_alive():
                # Not SIGTERM: the child may have had one from its process group already (Ctrl-C,
                # systemd), and would take a second as "stop now". These two say exactly which.
                os.kill(child.pid, STOP_NOW if now else STOP_GRACEFULLY)
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def abandoned(self) -> int:
        """Tasks of this process still running when the worker returned (0 after a clean stop)."""
        return self._consumer.abandoned if self._consumer is not None else 0

    def join(self, timeout: float | None = None) -> None:
        """Wait for a ``start()``-ed worker to return (e.g. a burst worker)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run_consumer(self) -> int:
        consumer = self._consumer = Consumer(self.spec, self._admission, self._recorder, self.settings)
        if self._stopping.is_set():
            return EXIT_OK
        try:
            consumer.run()
        except TransportError as exc:
            logger.error("worker stopped: %s", exc)
            return EXIT_GAVE_UP
        return EXIT_OK

    def _handle_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def on_signal(signum: int, _frame: Any) -> None:
            again = self._stopping.is_set()
            name = signal.Signals(signum).name
            logger.warning("received %s: %s", name, "stopping now" if again else "finishing running tasks")
            self.stop(now=again)

        for sig in previous:
            signal.signal(sig, on_signal)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore


class _Supervisor:
    """Keeps ``concurrency`` child processes consuming, each with one slot; replaces the dead."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._context = multiprocessing.get_context("fork")

    def run(self) -> int:
        worker = self.worker
        children = worker._children
        for _ in range(worker.concurrency):
            self._spawn()
        exit_code = EXIT_OK
        while children:
            multiprocessing.connection.wait([c.sentinel for c in children], timeout=0.5)
            for child in [c for c in children if not c.is_alive()]:
                children.remove(child)
                child.join()
                worker.settings.extensions.process_ended(child.pid)
                if child.exitcode == EXIT_GAVE_UP:
                    exit_code = EXIT_GAVE_UP
                    worker.stop()
                elif child.exitcode != EXIT_OK and not worker._stopping.is_set():
                    logger.error("child %s died (exit code %s); starting another", child.pid, child.exitcode)
                    self._spawn()
                elif not worker.settings.burst and not worker._stopping.is_set():
                    self._spawn()
        return exit_code

    def _spawn(self) -> None:
        # Objects made before the fork are left out of the children's garbage collections: a
        # collection that visits them writes to their pages and copies every one of them (about
        # 10 MiB per child, seen as a step in its memory a few thousand tasks in).
        gc.freeze()
        worker = self.worker
        child = self._context.Process(target=_child_main, args=(worker,), daemon=False)
        child.start()
        worker._children.append(child)
        if worker._stopping.is_set() and child.pid is not None:
            # A SIGTERM handled while this child was being started (after the check that started
            # it) did not reach it: it would consume for ever and the supervisor wait for it.
            os.kill(child.pid, STOP_GRACEFULLY)


def _child_main(worker: Worker) -> None:
    worker._children = []
    worker._stopping = threading.Event()

    received: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        # Only SIGTERM/SIGINT count towards "the second one stops now": the supervisor's own
        # SIGUSR1 may arrive before or after the group's SIGTERM.
        received.append(signum)
        worker.stop(now=len(received) > 1)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # Ctrl-C reaches the whole process group
    signal.signal(STOP_GRACEFULLY, lambda *_: worker.stop())
    signal.signal(STOP_NOW, lambda *_: worker.stop(now=True))
    code = worker._run_consumer()
    logging.shutdown()
    # Not SystemExit: that would wait for a task still running after "stop now" or the timeout.
    os._exit(code)


def run_and_exit(worker: Worker, *, beside: Callable[[], None] | None = None) -> NoReturn:
    """Run ``worker`` in the foreground as the process's main job, then end the process with its code.

    Args:
        worker: the worker.
        beside: run in a forked process of its own alongside (the scheduler, for
            ``arame worker --scheduler``); it ends with this one.
    """
    if beside is not None:
        # Its own process: forking worker children from a process with a scheduler thread
        # could copy a lock that thread holds.
        multiprocessing.get_context("fork").Process(target=_run_beside, args=(beside,), daemon=True).start()
    code = worker.run()
    if worker.abandoned:
        # Not sys.exit: interpreter shutdown would wait for the tasks still running.
        logging.shutdown()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _run_beside(job: Callable[[], None]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    job()
