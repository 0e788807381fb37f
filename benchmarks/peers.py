"""Dramatiq and Celery on the workload of ``compare.py``; run by the peers' own interpreter.

Each run writes a worker module to a temp dir (the count file of ``counting.py``, then the
system's ``add`` task, which calls ``tick()`` and returns), publishes the tasks the way the
system's users do, starts the system's worker with its defaults in its own session, and removes
its queues and keys afterwards. Nothing here imports arame.

- Celery: the prefork pool with its default concurrency (one child per core), its default
  prefetch, acks on receipt (its default), results ignored; no gossip, mingle, heartbeat or remote
  control (start-up and cluster chatter, not the per-task path).
- Dramatiq: its default worker (one process per core, 8 threads each), no results; for the round
  trip the Results middleware with a Redis backend.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import counting

VENV_BIN = Path(sys.executable).parent
WARMUP = 20
RESULTS_REDIS = "redis://127.0.0.1:6379/13"  # Dramatiq's result backend in the round trip

CELERY = """\
from celery import Celery

app = Celery("bench", broker={broker!r})
app.conf.update(
    task_ignore_result=True,
    task_default_queue={queue!r},
    broker_connection_retry_on_startup=True,
    worker_enable_remote_control=False,
)


@app.task
def add(x, y):
    tick()
    return x + y
"""

DRAMATIQ = """\
import dramatiq
from dramatiq.brokers.{package} import {cls}

broker = {cls}(url={broker!r}{namespace})
{results}dramatiq.set_broker(broker)


@dramatiq.actor(queue_name={queue!r}{store})
def add(x, y):
    tick()
    return x + y
"""

RESULTS = """\
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend

backend = RedisBackend(url={url!r}, namespace={namespace!r})
broker.add_middleware(Results(backend=backend))
"""


def kind(broker: str) -> str:
    """``redis`` or ``rabbitmq`` for a broker URL."""
    return "redis" if broker.startswith(("redis:", "rediss:")) else "rabbitmq"


@dataclass
class Run:
    """One peer run's names and places."""

    system: str
    broker: str
    suffix: str
    directory: Path
    results: bool = False

    @property
    def queue(self) -> str:
        return f"cmp-{self.suffix}"

    @property
    def module(self) -> str:
        return f"cmp_{self.system}_{self.suffix}"

    @property
    def count_file(self) -> Path:
        return self.directory / "count"


def source(run: Run) -> str:
    """The worker module of ``run``."""
    head = counting.COUNTER.format(path=str(run.count_file))
    if run.system == "celery":
        return head + "\n\n" + CELERY.format(broker=run.broker, queue=run.queue)
    redis_broker = kind(run.broker) == "redis"
    results = RESULTS.format(url=RESULTS_REDIS, namespace=run.queue) if run.results else ""
    return (
        head
        + "\n\n"
        + DRAMATIQ.format(
            package="redis" if redis_broker else "rabbitmq",
            cls="RedisBroker" if redis_broker else "RabbitmqBroker",
            broker=run.broker if redis_broker else pika_url(run.broker),
            # Dramatiq's Redis keys go under a namespace; a per-run one is removed whole afterwards.
            namespace=f", namespace={run.queue!r}" if redis_broker else "",
            results=results,
            queue=run.queue,
            store=", store_results=True" if run.results else "",
        )
    )


def pika_url(url: str) -> str:
    """``url`` as pika reads it: Kombu's ``amqp://host//`` means the vhost ``/``, pika's ``''``."""
    scheme, rest = url.split("://", 1)
    authority, _, vhost = rest.partition("/")
    return f"{scheme}://{authority}/{quote(vhost or '/', safe='')}"


@contextlib.contextmanager
def peer_run(system: str, broker: str, *, results: bool = False) -> Iterator[Run]:
    """A :class:`Run` with its module written; its queues, keys and files go afterwards."""
    run = Run(system, broker, uuid.uuid4().hex[:12], Path(tempfile.mkdtemp(prefix="cmp-")), results)
    (run.directory / f"{run.module}.py").write_text(source(run))
    sys.path.insert(0, str(run.directory))
    try:
        yield run
    finally:
        with contextlib.suppress(Exception):
            clean(run)
        shutil.rmtree(run.directory, ignore_errors=True)


def start_worker(run: Run) -> subprocess.Popen[bytes]:
    """The system's worker with its defaults, in its own session (its pid is the session id)."""
    if run.system == "celery":
        argv = [str(VENV_BIN / "celery"), "-A", run.module, "worker", "-Q", run.queue]
        argv += ["-n", f"{run.queue}@%h", "--loglevel", "WARNING"]
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    else:
        argv = [str(VENV_BIN / "dramatiq"), run.module, "--queues", run.queue]
    env = dict(os.environ, PYTHONPATH=str(run.directory))
    with (run.directory / "worker.log").open("wb") as log:
        return subprocess.Popen(
            argv, cwd=run.directory, env=env, start_new_session=True, stdout=log, stderr=log
        )


def stop(worker: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM the worker's session, then SIGKILL what lingers."""
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def send(module: Any, system: str, i: int) -> Any:
    """Publish one ``add(i, i)`` as the system's users do."""
    return module.add.delay(i, i) if system == "celery" else module.add.send(i, i)


def throughput(args: argparse.Namespace, system: str, broker: str) -> dict[str, float]:
    """Publish ``n`` tasks, start one worker, watch the count file to ``n``, stop the worker."""
    with peer_run(system, broker) as run:
        module = __import__(run.module)
        began = time.monotonic()
        for i in range(args.n):
            send(module, system, i)
        publish_rate = args.n / (time.monotonic() - began)
        worker = start_worker(run)
        try:
            seen = counting.watch(
                run.count_file, args.n, worker.pid, lambda: worker.poll() is None, args.timeout
            )
        finally:
            stop(worker)
        if counting.done(run.count_file) < args.n:
            print((run.directory / "worker.log").read_text()[-3000:], file=sys.stderr)
        return seen.figures() | {"publish_rate": publish_rate}


def roundtrip(args: argparse.Namespace, system: str, broker: str) -> dict[str, float]:
    """Dramatiq with its Results middleware: ``send`` then ``get_result(block=True)``, one at a time."""
    with peer_run(system, broker, results=True) as run:
        module = __import__(run.module)
        worker = start_worker(run)
        try:
            module.add.send(0, 0).get_result(block=True, timeout=60_000)
            for i in range(WARMUP):
                module.add.send(i, i).get_result(block=True, timeout=10_000)
            time.sleep(1.0)  # idle again
            samples = []
            for i in range(args.n):
                began = time.perf_counter()
                module.add.send(i, 1).get_result(block=True, timeout=10_000)
                samples.append((time.perf_counter() - began) * 1000)
        finally:
            stop(worker)
        return counting.latencies(samples)


def clean(run: Run) -> None:
    """Remove what the run left on its broker (and in the result backend)."""
    if kind(run.broker) == "redis":
        clean_redis(run.broker, run.suffix)
    else:
        clean_rabbitmq(run.broker, run.queue)
    if run.results:
        clean_redis(RESULTS_REDIS, run.suffix)


def clean_redis(url: str, suffix: str) -> None:
    """Delete the keys that carry ``suffix`` and drop it from Kombu's binding sets."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(match=f"*{suffix}*", count=1000):
            client.delete(key)
        for binding in client.scan_iter(match="_kombu.binding.*", count=1000):
            stale = [m for m in client.smembers(binding) if suffix.encode() in m]
            if stale:
                client.srem(binding, *stale)
    finally:
        client.close()


def clean_rabbitmq(url: str, queue: str) -> None:
    """Delete the run's queue, Dramatiq's delay and dead-letter queues, and Celery's exchange."""
    from kombu import Connection

    with Connection(url) as conn:
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            with contextlib.suppress(Exception), conn.channel() as channel:
                channel.queue_delete(name)
        with contextlib.suppress(Exception), conn.channel() as channel:
            channel.exchange_delete(queue)
