"""What the fault tests share: a tasks module on disk, worker processes, the runs log, polling.

Every task run appends ``start``/``end`` lines to a runs log (one ``write`` on an ``O_APPEND``
file, so lines from several processes never interleave), so a test counts how often each task
really ran, and when, independently of the results table it checks against.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import sqlalchemy as sa

import arame
from arame.coordination.fair_queues import FairRegistry
from arame.transport import BrokerSpec, list_dead, parse_broker_url, queue_sizes
from arame.transport.broker_urls import DEFAULT_LEASE_SECONDS
from tests.cleanup import delete_queues, delete_result_rows
from tests.helpers import rabbitmq_queues, wait_until

T = TypeVar("T")

#: Figures measured by the tests, printed again in the terminal summary.
FIGURES: list[str] = []

#: The lease of the SQL and Redis transports when nobody sets it.
DEFAULT_LEASE = DEFAULT_LEASE_SECONDS
#: A short lease for tests whose point is not the lease's length.
SHORT_LEASE = 2.0

TASKS_MODULE = '''
"""Tasks run by the fault tests' worker processes; every run is logged to RUNS."""

import asyncio
import os
import signal
import time

import arame

RUNS = {runs!r}
LEASE = {lease!r}
SETTINGS = {settings!r}

if LEASE is not None:
    SETTINGS["lease_seconds"] = LEASE

app = arame.App("faults", **SETTINGS)  # URLs: $ARAME_BROKER_URL and $ARAME_RESULTS_URL


def record(event, key):
    line = f"{{event}} {{key}} {{os.getpid()}} {{time.time():.6f}}\\n".encode()
    fd = os.open(RUNS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def started_before(key):
    try:
        with open(RUNS) as runs:
            return any(line.split()[:2] == ["start", key] for line in runs)
    except FileNotFoundError:
        return False


@app.task(name="faults.work")
def work(key, seconds=0.0, then=None):
    again = started_before(key)
    record("start", key)
    time.sleep(then if again and then is not None else seconds)
    record("end", key)
    return key


@app.task(name="faults.nap")
async def nap(key, seconds):
    record("start", key)
    await asyncio.sleep(seconds)
    record("end", key)
    return key


@app.task(name="faults.spin")
def spin(key, seconds):
    record("start", key)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # busy on the CPU: holds the GIL but for its switch interval
        sum(range(1000))
    record("end", key)
    return key


@app.task(name="faults.fair_work", fair_key="tenant")
def fair_work(tenant, key, seconds=0.0):
    record("start", key)
    time.sleep(seconds)
    record("end", key)
    return key


@app.task(name="faults.die")
def die(key):
    record("start", key)
    os.kill(os.getpid(), signal.SIGKILL)  # the worker process running it dies with it


@app.task(name="faults.add")
def add(x, y):
    return x + y


@app.task(name="faults.gather")
def gather(keys):
    record("start", "gather")
    record("end", "gather")
    return keys
'''


# Stand-ins with the worker's task names and signatures: the test process only publishes them.
def _work(key: str, seconds: float = 0.0, then: float | None = None) -> str:
    return key


async def _nap(key: str, seconds: float) -> str:
    return key


def _spin(key: str, seconds: float) -> str:
    return key


def _fair_work(tenant: str, key: str, seconds: float = 0.0) -> str:
    return key


def _die(key: str) -> None:
    return None


def _add(x: int, y: int) -> int:
    return x + y


def _gather(keys: list[str]) -> list[str]:
    return keys


def free_port() -> int:
    """A TCP port nobody listens on right now, on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def figure(text: str) -> None:
    """Print a measured figure now, and again in the terminal summary."""
    print(f"\n[figure] {text}")
    FIGURES.append(text)


@dataclass(frozen=True, slots=True)
class Run:
    """One line of the runs log."""

    event: str
    key: str
    pid: int
    at: float


class RunsLog:
    """The runs log the tasks module appends to."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def all(self) -> list[Run]:
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return []
        runs = []
        for line in lines:
            event, key, pid, at = line.split()
            runs.append(Run(event, key, int(pid), float(at)))
        return runs

    def starts(self, key: str) -> list[Run]:
        return [run for run in self.all() if run.event == "start" and run.key == key]

    def ends(self, key: str) -> list[Run]:
        return [run for run in self.all() if run.event == "end" and run.key == key]

    def counts(self, event: str) -> dict[str, int]:
        counted: dict[str, int] = {}
        for run in self.all():
            if run.event == event:
                counted[run.key] = counted.get(run.key, 0) + 1
        return counted


@dataclass
class Stack:
    """A broker, a results database, a queue of its own, and a folder for the tasks module.

    Attributes:
        kind: ``redis``, ``rabbitmq``, ``postgres``, ``mysql`` or ``sqlite``.
        broker_url: the broker, as workers and producers reach it directly.
        results_url: the results database.
        folder: the test's tmp_path: tasks module, runs log, worker logs.
    """

    kind: str
    broker_url: str
    results_url: str
    folder: Path
    queue: str = field(default_factory=lambda: f"arame-faults-{uuid.uuid4().hex[:12]}")
    _apps: list[arame.App] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.runs = RunsLog(self.folder / "runs.log")
        self.producer = self.app()
        self.tasks = self.stand_ins(self.producer)

    @property
    def spec(self) -> BrokerSpec:
        return parse_broker_url(self.broker_url)

    @property
    def lease(self) -> float | None:
        """How long a dead worker's message stays hidden; ``None`` where the broker sees it die."""
        return None if self.kind == "rabbitmq" else DEFAULT_LEASE

    def app(self, *, broker_url: str | None = None, **settings: Any) -> arame.App:
        """A producer-side App on this stack (closed at teardown)."""
        app = arame.App(
            "faults-producer", broker=broker_url or self.broker_url, results=self.results_url, **settings
        )
        self._apps.append(app)
        return app

    def stand_ins(self, app: arame.App) -> SimpleNamespace:
        """The worker's tasks, declared on ``app`` for publishing to this stack's queue."""
        return SimpleNamespace(
            work=app.task(name="faults.work", queue=self.queue)(_work),
            nap=app.task(name="faults.nap", queue=self.queue)(_nap),
            spin=app.task(name="faults.spin", queue=self.queue)(_spin),
            die=app.task(name="faults.die", queue=self.queue)(_die),
            fair_work=app.task(name="faults.fair_work", queue=self.queue, fair_key="tenant")(_fair_work),
            add=app.task(name="faults.add", queue=self.queue)(_add),
            gather=app.task(name="faults.gather", queue=self.queue)(_gather),
        )

    def write_module(self, name: str = "faultmod", *, lease: float | None = None, **settings: Any) -> str:
        """Write the tasks module (App settings for the worker side); return ``module:app``."""
        source = TASKS_MODULE.format(runs=str(self.runs.path), lease=lease, settings=settings)
        (self.folder / f"{name}.py").write_text(source)
        return f"{name}:app"

    def row(self, handle: arame.AsyncResult | str) -> Any:
        task_id = handle if isinstance(handle, str) else handle.id
        return self.producer.results.read(task_id)

    def state(self, handle: arame.AsyncResult | str) -> str:
        row = self.row(handle)
        return arame.UNKNOWN if row is None else row.state

    def counts(self, handles: list[arame.AsyncResult]) -> dict[str, int]:
        """How many of ``handles`` are in each state: a query per 500, not one per handle (tests
        poll this for a thousand tasks while workers compete for the same CPU)."""
        return self.producer.results.count_states([handle.id for handle in handles])

    def all_in(self, handles: list[arame.AsyncResult], state: str) -> bool:
        return self.counts(handles).get(state, 0) == len(handles)

    def ready_messages(self) -> int:
        """Messages ready in the queue (unacknowledged or leased ones are not counted)."""
        return queue_sizes(self.spec, [self.queue])[self.queue]

    def dead_letters(self) -> list[arame.transport.DeadLetter]:
        return list_dead(self.spec, self.queue)

    def close(self) -> None:
        """Close the producers, then delete the queues and result rows this test made."""
        subqueues: list[str] = []
        with contextlib.suppress(Exception):
            subqueues = list(FairRegistry.of(self.producer.results).active([self.queue]))  # fair shares
        for app in self._apps:
            with contextlib.suppress(Exception):
                app.close()
        with contextlib.suppress(Exception):
            delete_queues(self.spec, [self.queue, *subqueues])
        if not self.results_url.startswith("sqlite"):
            with contextlib.suppress(Exception):
                delete_result_rows(self.results_url, [self.queue, *subqueues])


class WorkerProcess:
    """``python -m arame worker`` in its own session, so one ``killpg`` takes its children too."""

    def __init__(
        self,
        stack: Stack,
        app_spec: str,
        *,
        pool: str,
        concurrency: int,
        broker_url: str | None,
        options: tuple[str, ...],
    ) -> None:
        self.stack = stack
        number = len(list(stack.folder.glob("worker-*.log")))
        self.log_path = stack.folder / f"worker-{number}.log"
        command = [
            sys.executable,
            "-m",
            "arame",
            "worker",
            app_spec,
            "-c",
            str(concurrency),
            "--pool",
            pool,
            "-Q",
            stack.queue,
            *options,
        ]
        env = {
            **os.environ,
            "ARAME_BROKER_URL": broker_url or stack.broker_url,
            "ARAME_RESULTS_URL": stack.results_url,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(stack.folder), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
        }
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                command,
                cwd=stack.folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_consuming(self, within: float = 30.0) -> None:
        """Wait until the worker (each of its children) says it is consuming."""

        def consuming() -> bool:
            if not self.alive():
                raise AssertionError(f"the worker exited with {self.process.returncode}:\n{self.log()}")
            return "consuming " in self.log()

        wait_until(consuming, within, f"worker {self.pid} consuming")

    def kill(self) -> float:
        """SIGKILL the worker's whole process group; return when (epoch seconds) it was sent."""
        at = time.time()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(10)
        return at

    def signal(self, signum: int, *, group: bool = False) -> None:
        if group:
            os.killpg(self.pid, signum)
        else:
            self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def cleanup(self) -> None:
        """Kill what is left of it (the group may hold children after the leader exited)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)


class Workers:
    """Starts worker processes for a stack; the fixture kills the leftovers."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.started: list[WorkerProcess] = []

    def start(
        self,
        app_spec: str = "faultmod:app",
        *,
        pool: str = "process",
        concurrency: int = 1,
        broker_url: str | None = None,
        options: tuple[str, ...] = (),
    ) -> WorkerProcess:
        worker = WorkerProcess(
            self.stack, app_spec, pool=pool, concurrency=concurrency, broker_url=broker_url, options=options
        )
        self.started.append(worker)
        return worker

    def logs(self) -> str:
        return "\n".join(f"--- {w.log_path.name} (pid {w.pid})\n{w.log()}" for w in self.started)

    def cleanup(self) -> None:
        for worker in self.started:
            worker.cleanup()


def held_messages(stack: Stack) -> int:
    """Messages the broker still stores for the queue: ready plus delivered-but-unacknowledged.

    Not part of arame's API (``queue_sizes`` counts ready messages only), so this peeks at each
    broker: ``rabbitmqctl`` (read-only), the Redis transport's payload hash, the SQL queue table.
    """
    if stack.kind == "rabbitmq":
        return int(rabbitmq_queues("messages").get(stack.queue, 0))
    if stack.kind == "redis":
        import redis

        from arame.transport.redis_queue.data_model import queue_keys

        client = redis.Redis.from_url(stack.broker_url)
        try:
            return int(client.hlen(queue_keys(stack.queue)[1]))
        finally:
            client.close()
    from arame.transport.sql.messages_table import messages

    engine = sa.create_engine(arame.transport.database_url(stack.broker_url))
    try:
        with engine.connect() as conn:
            query = sa.select(sa.func.count()).where(messages.c.queue == stack.queue)
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def holds_for(seconds: float, condition: Callable[[], bool], what: str, interval: float = 0.1) -> None:
    """Check that ``condition`` stays true for ``seconds`` (an observation, not a blind sleep)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert condition(), f"{what}: stopped being true"
        time.sleep(interval)
