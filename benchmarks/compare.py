"""Worker throughput of arame next to Celery, Dramatiq and a bare Kombu consumer, on one workload.

The workload is the one of ``throughput.py``: ``-n`` no-op ``add(x, y)`` tasks are published to a
fresh, empty queue, then ONE worker is started, and the figure is the steady rate: tasks finished
between the 10 % and the 90 % mark divided by the time between the two marks, so start-up and the
tail do not count. Per system:

- arame: ``throughput.measure`` as it is (``arame worker -c C --burst``, results in PostgreSQL by
  default, ``finished_at`` of the rows gives the marks); every broker, also PostgreSQL and SQLite.
  ``-c`` and ``--pool`` apply to arame only.
- celery: results ignored, the default prefork pool and concurrency (one child per core), default
  prefetch, acks on receipt (its default); ``--without-gossip --without-mingle --without-heartbeat``
  so that no cluster chatter is left behind (they change start-up only, not the per-task path).
- dramatiq: the default worker (one process per core, 8 threads each), no results middleware.
- kombu: a hand-written consumer, one thread, ``basic_consume`` with a prefetch of 10, an ack per
  message, no results: what Kombu's stock transports give with nothing on top.

The peers run on Redis and RabbitMQ only. How their completions are seen: every Celery and
Dramatiq task does one ``INCR`` on a counter in a separate Redis database (``--counter``, db 13)
and, when the count it gets back is one of the marks, stores ``time.time()`` next to it. The Kombu
consumer is the only consumer of its queue and single-threaded, so it counts in memory and writes
only the marks (and its progress every 500 messages). The ``INCR`` is one loopback round trip
(about 0.05-0.1 ms) that the Celery and Dramatiq tasks pay and arame and the Kombu consumer do not;
arame pays instead for its results rows, which is the point of it.

Runs are interleaved (for each repeat, for each broker: arame, celery, dramatiq, kombu) and each
one is a fresh interpreter (this script with ``--child``) with its own queue name; afterwards its
worker's process group is stopped and its queues, exchanges, keys and files are removed. A run
that does not finish (a worker that dies, ``--timeout``) is reported as failed and left out. The
parent prints every run, then per broker and system the median and min-max, and arame's median
divided by the peer's. ``--json`` keeps the figures and ``--plot`` draws them (see ``plot.py``).

The peers come from the ``bench`` extra; the workers are started from the directory of the running
interpreter, so install both into one environment (``pip install -e '.[all,bench]'``) and run:

    python benchmarks/compare.py --broker redis,rabbitmq -n 10000 --json compare.json --plot throughput.png
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import common

SYSTEMS = ("arame", "celery", "dramatiq", "kombu")
PEER_KINDS = ("redis", "rabbitmq")  # the brokers every peer speaks
KOMBU_PREFETCH = 10
POLL_S = 0.05
DEADLINES = "_kombu.binding_deadlines"


@dataclass
class PeerRun:
    """One peer run's names and places.

    Attributes:
        system: "celery", "dramatiq" or "kombu".
        broker: broker URL.
        counter: URL of the Redis database that counts completions.
        n: tasks published.
        suffix: unique to the run; every queue, key and module name carries it.
        directory: where the worker's module is written; the worker runs there.
    """

    system: str
    broker: str
    counter: str
    n: int
    suffix: str
    directory: Path

    @property
    def queue(self) -> str:
        return f"cmp-{self.suffix}"

    @property
    def module(self) -> str:
        return f"cmp_{self.system}_{self.suffix}"

    @property
    def key(self) -> str:
        return f"compare:{self.suffix}"

    @property
    def marks(self) -> tuple[int, int, int]:
        """1-based counts at the 10 % and 90 % marks (as ``common.steady_rate`` indexes) and the end."""
        return self.n // 10 + 1, self.n * 9 // 10 + 1, self.n


def kind(broker: str) -> str:
    """``redis``, ``rabbitmq`` or another word for what the broker URL points at."""
    scheme = broker.split(":", 1)[0]
    return {"redis": "redis", "rediss": "redis", "amqp": "rabbitmq", "amqps": "rabbitmq"}.get(scheme, scheme)


# -- the peers' worker modules ------------------------------------------------------------------

TICK = """\
import time

import redis

_counter = redis.Redis.from_url({counter!r})
_KEY = {key!r}
_MARKS = frozenset({marks!r})


def tick(count):
    if count in _MARKS:
        _counter.set(f"{{_KEY}}:t{{count}}", repr(time.time()))
"""

CELERY = """\
from celery import Celery

app = Celery("bench", broker={broker!r})
app.conf.update(
    task_ignore_result=True, task_default_queue={queue!r}, broker_connection_retry_on_startup=True
)


@app.task
def add(x, y):
    tick(_counter.incr(_KEY))
    return x + y
"""

DRAMATIQ = """\
import dramatiq
from dramatiq.brokers.{package} import {cls}

broker = {cls}(url={broker!r}{namespace})
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name={queue!r})
def add(x, y):
    tick(_counter.incr(_KEY))
    return x + y
"""

KOMBU = """\
import signal
import sys

from kombu import Connection, Queue

QUEUE = Queue({queue!r}, routing_key={queue!r})  # the default exchange: no binding lookup
done = 0


def add(x, y):
    return x + y


def on_message(body, message):
    global done
    add(*body["args"])
    message.ack()
    done += 1
    if done % 500 == 0:
        _counter.set(_KEY, done)  # progress, for a run that does not finish
    tick(done)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with Connection({broker!r}) as conn:
        with conn.Consumer(QUEUE, callbacks=[on_message], accept=["json"], prefetch_count={prefetch}):
            while True:
                conn.drain_events()
"""


def module_source(run: PeerRun) -> str:
    """The worker module of ``run``: the completion counter, then the system's task."""
    fields: dict[str, Any] = {"broker": run.broker, "queue": run.queue, "prefetch": KOMBU_PREFETCH}
    if run.system == "dramatiq":
        redis_broker = kind(run.broker) == "redis"
        if not redis_broker:
            fields["broker"] = pika_url(run.broker)
        fields["package"] = "redis" if redis_broker else "rabbitmq"
        fields["cls"] = "RedisBroker" if redis_broker else "RabbitmqBroker"
        # Dramatiq's Redis keys go under a namespace; a per-run one is removed whole afterwards.
        fields["namespace"] = f", namespace={run.queue!r}" if redis_broker else ""
    body = {"celery": CELERY, "dramatiq": DRAMATIQ, "kombu": KOMBU}[run.system].format(**fields)
    tick = TICK.format(counter=run.counter, key=run.key, marks=sorted(set(run.marks)))
    return tick + "\n\n" + body


def pika_url(url: str) -> str:
    """``url`` as pika reads it: Kombu's ``amqp://host//`` means the vhost ``/``, pika's the vhost ``''``."""
    scheme, rest = url.split("://", 1)
    authority, _, vhost = rest.partition("/")
    return f"{scheme}://{authority}/{quote(vhost or '/', safe='')}"


def import_module(run: PeerRun) -> Any:
    """The worker module, imported here to publish through it."""
    sys.path.insert(0, str(run.directory))
    return __import__(run.module)


def publish(run: PeerRun) -> None:
    """Publish ``run.n`` tasks the way the system's users do."""
    module = import_module(run)
    if run.system == "celery":
        for i in range(run.n):
            module.add.delay(i, i)
        module.app.close()
    elif run.system == "dramatiq":
        for i in range(run.n):
            module.add.send(i, i)
        module.broker.close()
    else:
        from kombu import Connection

        with Connection(run.broker) as conn:
            producer = conn.Producer(serializer="json")
            for i in range(run.n):
                producer.publish(
                    {"args": [i, i]},
                    routing_key=run.queue,
                    declare=[module.QUEUE] if i == 0 else [],
                    delivery_mode="persistent",
                )


def worker_argv(run: PeerRun) -> list[str]:
    """The command that starts the system's worker, from the same environment as this script."""
    if run.system == "celery":
        return [
            str(common.VENV_BIN / "celery"),
            *("-A", run.module, "worker", "-Q", run.queue, "-n", f"{run.queue}@%h"),
            *("--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"),
        ]
    if run.system == "dramatiq":
        return [str(common.VENV_BIN / "dramatiq"), run.module, "--queues", run.queue]
    return [sys.executable, f"{run.module}.py"]


def start_worker(run: PeerRun) -> subprocess.Popen[bytes]:
    """Start the worker in its own process group (so that stopping it reaches its children)."""
    env = dict(os.environ, PYTHONPATH=str(run.directory))
    with (run.directory / "worker.log").open("wb") as log:
        return subprocess.Popen(
            worker_argv(run), cwd=run.directory, env=env, start_new_session=True, stdout=log, stderr=log
        )


def wait_done(run: PeerRun, worker: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait until the last task has stamped its mark; False if the worker died or time ran out."""
    import redis

    counter = redis.Redis.from_url(run.counter)
    expired = common.deadline(timeout)
    try:
        while not counter.exists(f"{run.key}:t{run.n}"):
            if worker.poll() is not None or expired():
                return False
            time.sleep(POLL_S)
        return True
    finally:
        counter.close()


def read_marks(run: PeerRun) -> tuple[dict[int, float], int]:
    """The stamped marks (count -> epoch seconds) and how many tasks were counted."""
    import redis

    counter = redis.Redis.from_url(run.counter)
    try:
        stamps = {m: counter.get(f"{run.key}:t{m}") for m in run.marks}
        count = counter.get(run.key)
    finally:
        counter.close()
    marks = {m: float(v) for m, v in stamps.items() if v is not None}
    done = run.n if run.n in marks else int(count or 0)
    return marks, done


def peer_figures(run: PeerRun, started: float, published: float) -> dict[str, float]:
    """Steady and overall rates of a finished peer run, in ``throughput.py``'s fields."""
    marks, done = read_marks(run)
    lo, hi, end = run.marks
    nan = float("nan")
    rate = (hi - lo) / (marks[hi] - marks[lo]) if lo in marks and hi in marks else nan
    overall = end / (marks[end] - started) if end in marks else nan
    return {"rate": rate, "overall": overall, "done": float(done), "publish_s": published}


@contextlib.contextmanager
def peer_run(system: str, broker: str, counter: str, n: int) -> Iterator[PeerRun]:
    """A :class:`PeerRun` with its module written; its queues, keys and files go afterwards."""
    run = PeerRun(system, broker, counter, n, uuid.uuid4().hex[:12], Path(tempfile.mkdtemp(prefix="cmp-")))
    (run.directory / f"{run.module}.py").write_text(module_source(run))
    try:
        yield run
    finally:
        with contextlib.suppress(Exception):
            clean_broker(run)
        with contextlib.suppress(Exception):
            clean_redis(run.counter, run.suffix)
        shutil.rmtree(run.directory, ignore_errors=True)


def measure_peer(args: argparse.Namespace, system: str, broker: str) -> dict[str, float]:
    """One peer run: publish, start one worker, wait for the last task, stop the worker."""
    with peer_run(system, broker, args.counter, args.n) as run:
        began = time.monotonic()
        publish(run)
        published = time.monotonic() - began
        started = time.time()
        worker = start_worker(run)
        try:
            finished = wait_done(run, worker, args.timeout)
        finally:
            common.stop(worker, 15.0)
        if not finished:
            print((run.directory / "worker.log").read_text()[-3000:], file=sys.stderr)
        return peer_figures(run, started, published)


# -- cleaning up --------------------------------------------------------------------------------


def clean_broker(run: PeerRun) -> None:
    """Remove what the run left on its broker."""
    if kind(run.broker) == "redis":
        clean_redis(run.broker, run.suffix)
    else:
        clean_rabbitmq(run.broker, run.queue)


def clean_redis(url: str, suffix: str) -> None:
    """Delete the keys that carry ``suffix`` and drop it from Kombu's binding sets."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(match=f"*{suffix}*", count=1000):
            client.delete(key)
        # Kombu keeps the bindings of every exchange in one set per exchange: Celery's pidbox
        # binding names the worker (and so the suffix) inside a shared set.
        for binding in client.scan_iter(match="_kombu.binding.*", count=1000):
            stale = [m for m in client.smembers(binding) if suffix.encode() in m]
            if stale:
                client.srem(binding, *stale)
        # Kombu's binding expiry keeps one entry per fanout exchange; Celery's outlives its set.
        for exchange in client.zrange(DEADLINES, 0, -1):
            if suffix.encode() in exchange or (
                exchange == b"celery.pidbox" and not client.exists(b"_kombu.binding." + exchange)
            ):
                client.zrem(DEADLINES, exchange)
    finally:
        client.close()


def clean_rabbitmq(url: str, queue: str) -> None:
    """Delete the run's queue, Dramatiq's delay and dead-letter queues, and Celery's exchanges."""
    from kombu import Connection

    with Connection(url) as conn:
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            with contextlib.suppress(Exception), conn.channel() as channel:
                channel.queue_delete(name)
        with contextlib.suppress(Exception), conn.channel() as channel:
            channel.exchange_delete(queue)
        with contextlib.suppress(Exception), conn.channel() as channel:
            channel.exchange_delete("celery.pidbox", if_unused=True)  # Celery's; shared by its workers


# -- one run in a fresh process -----------------------------------------------------------------


def child(args: argparse.Namespace) -> dict[str, float]:
    """The run this child process was started for."""
    # A parent that gives up sends SIGTERM: exit through the ``finally`` blocks that stop workers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    broker, results = common.resolve(args.broker, args.results)
    if args.system == "arame":
        import throughput

        return throughput.measure(args, broker, results)
    return measure_peer(args, args.system, broker)


def run_child(args: argparse.Namespace, system: str, broker: str) -> dict[str, float] | None:
    """Run one measurement in a fresh interpreter; its figures, or None if it failed."""
    argv = [sys.executable, __file__, "--child", "--system", system, "--broker", broker]
    argv += ["-n", str(args.n), "-c", str(args.concurrency), "--results", args.results]
    argv += ["--timeout", str(args.timeout), "--counter", args.counter]
    argv += ["--pool", args.pool] if args.pool else []
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=args.timeout + 120)
    except subprocess.TimeoutExpired:
        process.terminate()
        out, err = process.communicate()
    found = [dict(json.loads(line[7:])) for line in out.splitlines() if line.startswith("RESULT ")]
    if not found or not all(math.isfinite(v) for v in found[0].values()):
        print(out[-2000:] + err[-3000:], file=sys.stderr)  # the worker's log, a traceback
    return found[0] if found else None


# -- the parent ---------------------------------------------------------------------------------


def plan(systems: list[str], brokers: list[str]) -> list[tuple[str, str]]:
    """(system, broker) pairs of one repeat, broker by broker; the peers only where they run."""
    return [
        (system, broker)
        for broker in brokers
        for system in systems
        if system == "arame" or kind(common.resolve(broker, "")[0]) in PEER_KINDS
    ]


def run_all(args: argparse.Namespace, systems: list[str], brokers: list[str]) -> list[dict[str, Any]]:
    """Every run, interleaved: each repeat goes once through every system on every broker."""
    runs: list[dict[str, Any]] = []
    pairs = plan(systems, brokers)
    for repeat in range(1, args.repeat + 1):
        for system, broker in pairs:
            figures = run_child(args, system, broker)
            label = f"  run {repeat}/{args.repeat} {label_of(broker):10} {system:9}"
            if figures is None or not all(math.isfinite(v) for v in figures.values()):
                done = f" after {figures['done']:.0f} tasks" if figures else ""
                print(f"{label} failed{done}", flush=True)  # a partial run would skew the median
                continue
            runs.append({"system": system, "broker": label_of(broker), "repeat": repeat, **figures})
            print(
                f"{label} rate {figures['rate']:7.0f}/s  overall {figures['overall']:7.0f}/s  "
                f"done {figures['done']:6.0f}  publish {figures['publish_s']:5.1f}s",
                flush=True,
            )
    return runs


def label_of(broker: str) -> str:
    """A broker's name, or its URL without a password."""
    return broker if broker in common.BROKERS else common.redact(broker)


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per broker and system: median and min-max of the steady rate, and arame's median over it."""
    rows: list[dict[str, Any]] = []
    for broker in dict.fromkeys(r["broker"] for r in runs):
        for system in SYSTEMS:
            rates = [r["rate"] for r in runs if r["broker"] == broker and r["system"] == system]
            if rates:
                low, high = min(rates), max(rates)
                row = {"broker": broker, "system": system, "runs": len(rates), "min": low, "max": high}
                rows.append(row | {"median": statistics.median(rates)})
    for row in rows:
        own = next((r for r in rows if r["broker"] == row["broker"] and r["system"] == "arame"), None)
        row["arame_ratio"] = own["median"] / row["median"] if own and row["system"] != "arame" else None
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    """The summary, one line per broker and system."""
    print(f"{'broker':10} {'system':9} {'runs':>4} {'median':>9} {'min-max':>15} {'arame/peer':>11}")
    for r in rows:
        spread = f"{r['min']:.0f}-{r['max']:.0f}"
        ratio = f"{r['arame_ratio']:.2f}" if r["arame_ratio"] is not None else "-"
        print(f"{r['broker']:10} {r['system']:9} {r['runs']:4} {r['median']:7.0f}/s {spread:>15} {ratio:>11}")


def versions() -> dict[str, str]:
    """Versions of what was compared, for the JSON."""
    found = {"python": platform.python_version()}
    for name in ("arame", "celery", "dramatiq", "kombu"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def document(args: argparse.Namespace, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures and what produced them, as ``--json`` writes them and ``plot.py`` reads them."""
    workload = {"n": args.n, "repeat": args.repeat, "cores": os.cpu_count()}
    arame = {"concurrency": args.concurrency, "pool": args.pool, "results": label_of(args.results)}
    return {
        "workload": workload | {"arame": arame},
        "versions": versions(),
        "runs": runs,
        "summary": summarize(runs),
    }


def parser() -> argparse.ArgumentParser:
    """The shared options, with the comparison's own."""
    p = common.parser(__doc__.splitlines()[0], n=10_000, brokers="redis,rabbitmq")
    p.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated, of {list(SYSTEMS)}")
    p.add_argument(
        "--counter", default="redis://127.0.0.1:6379/13", help="Redis URL that counts the peers' tasks"
    )
    p.add_argument("--json", type=Path, help="write the runs and the summary to this JSON file")
    p.add_argument("--plot", type=Path, help="draw the summary as a PNG bar chart to this file")
    p.add_argument("--system", choices=SYSTEMS, help=argparse.SUPPRESS)
    return p


def main() -> None:
    """Run the comparison (or, with ``--child``, one of its runs)."""
    p = parser()
    args = p.parse_args()
    if args.repeat < common.MIN_REPEAT:
        p.error(f"--repeat must be at least {common.MIN_REPEAT}")
    if args.child:
        print("RESULT " + json.dumps(child(args)), flush=True)
        return
    systems = [s for s in args.systems.split(",") if s]
    if unknown := set(systems) - set(SYSTEMS):
        p.error(f"unknown systems {sorted(unknown)}")
    print(f"n={args.n} repeat={args.repeat} arame: -c {args.concurrency} results={args.results}", flush=True)
    figures = document(args, run_all(args, systems, args.broker.split(",")))
    print_table(figures["summary"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if args.plot:
        import plot  # matplotlib only when a chart is asked for

        plot.draw(figures, args.plot)


if __name__ == "__main__":
    main()
