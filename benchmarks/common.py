"""What every benchmark shares: the command line, fresh processes per run, and the summary.

Each benchmark script defines ``measure(args, broker, results) -> dict[str, float]`` and calls
:func:`main`. The parent process runs every measurement in a fresh interpreter (the same script,
with ``--child``), so no run inherits another's connections, caches or heap; the child prints one
``RESULT {json}`` line, the parent prints it per run and then the median and min-max of each field.

Brokers may be given as URLs or as the names ``rabbitmq``, ``redis``, ``postgresql``, ``mariadb``
and ``sqlite`` (the embedded default: broker and results in one fresh SQLite file per run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arame.transport import BrokerSpec

MIN_REPEAT = 3
PUBLISH_BATCH = 1000  # calls per map() where a benchmark only needs the tasks queued
VENV_BIN = Path(sys.executable).parent
BROKERS = {
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
    "redis": "redis://127.0.0.1:6379/14",
    "postgresql": "postgresql://127.0.0.1:5432/test",
    "mariadb": "mysql://root@127.0.0.1:3306/test",
    "sqlite": "sqlite",  # a fresh file per run, for both broker and results
}
RESULTS = {
    "postgresql": "postgresql://127.0.0.1:5432/test",
    "mariadb": "mysql://root@127.0.0.1:3306/test",
}

Measure = Callable[[argparse.Namespace, str, str], dict[str, float]]


def parser(
    description: str, *, n: int, brokers: str = "rabbitmq,redis,postgresql,sqlite"
) -> argparse.ArgumentParser:
    """The shared options; a script adds its own before calling :func:`main`."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--broker", default=brokers, help=f"comma-separated URLs or names {list(BROKERS)} [{brokers}]"
    )
    p.add_argument(
        "--results", default="postgresql", help="results URL or name (ignored for sqlite) [postgresql]"
    )
    p.add_argument("-n", type=int, default=n, help=f"tasks per run [{n}]")
    p.add_argument("-c", "--concurrency", type=int, default=2, help="worker slots [2]")
    p.add_argument(
        "--pool",
        choices=["process", "thread", "asyncio"],
        default=None,
        help="worker pool [the worker's default]",
    )
    p.add_argument("--repeat", type=int, default=MIN_REPEAT, help=f"runs per broker, at least {MIN_REPEAT}")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds one run may take [300]")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return p


def main(p: argparse.ArgumentParser, measure: Measure, fields: Sequence[tuple[str, str]]) -> None:
    """Parse, then run ``measure`` once (child) or ``--repeat`` times per broker in fresh processes.

    Args:
        p: the parser from :func:`parser`, with the script's own options.
        measure: one measurement, run in the child.
        fields: (key, format) pairs of the figures to print, e.g. ``("rate", "{:8.0f} tasks/s")``.
    """
    args = p.parse_args()
    if args.repeat < MIN_REPEAT:
        p.error(f"--repeat must be at least {MIN_REPEAT}")
    if args.child:
        broker, results = resolve(args.broker, args.results)
        print("RESULT " + json.dumps(measure(args, broker, results)), flush=True)
        return
    for name in args.broker.split(","):
        label = name if name in BROKERS else redact(name)
        print(
            f"{label}: n={args.n} c={args.concurrency} pool={args.pool or 'default'} results={args.results}"
        )
        runs = []
        for number in range(1, args.repeat + 1):
            run = run_child(args, name)
            if run is None:
                print(f"  run {number}: failed")
                continue
            runs.append(run)
            print(f"  run {number}: " + "  ".join(f"{k} " + f.format(run[k]) for k, f in fields), flush=True)
        if runs:
            print(
                "  median: "
                + "  ".join(f"{k} " + f.format(statistics.median(r[k] for r in runs)) for k, f in fields)
            )
            print(
                "  range:  "
                + "  ".join(
                    f"{k} "
                    + f.format(min(r[k] for r in runs))
                    + "-"
                    + f.format(max(r[k] for r in runs)).strip()
                    for k, f in fields
                )
            )
            print("  JSON " + json.dumps({"broker": label, "runs": runs}), flush=True)


def run_child(args: argparse.Namespace, broker: str) -> dict[str, float] | None:
    """Run this script once more in a fresh interpreter for ``broker``; its RESULT, or None."""
    argv = [*_replace(list(sys.argv[1:]), "--broker", broker), "--child", "--repeat", str(MIN_REPEAT)]
    try:
        done = subprocess.run(
            [sys.executable, sys.argv[0], *argv],
            check=False,
            capture_output=True,
            text=True,
            timeout=args.timeout + 60,
        )
    except subprocess.TimeoutExpired:
        print(f"  (child for {broker} timed out)", file=sys.stderr)
        return None
    for line in done.stderr.splitlines():
        if line.startswith("    "):  # a child's --trace lines
            print(line)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]))
    print(done.stdout[-2000:] + done.stderr[-3000:], file=sys.stderr)
    return None


def _replace(argv: list[str], option: str, value: str) -> list[str]:
    """``argv`` with ``option VALUE`` (or ``option=VALUE``) replaced by ``option value``."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == option:
            skip = True
            continue
        if a.startswith(option + "="):
            continue
        out.append(a)
    return [*out, option, value]


def resolve(broker: str, results: str) -> tuple[str, str]:
    """URLs for a broker name or URL and a results name or URL."""
    return BROKERS.get(broker, broker), RESULTS.get(results, results)


def redact(url: str) -> str:
    from arame.transport.broker_urls import redact_url

    return redact_url(url)


# -- a throwaway app ----------------------------------------------------------------------------


@dataclass
class Bench:
    """A tasks module in a temp dir, on a unique queue, and how to clean up after it.

    Attributes:
        broker: broker URL.
        results: results URL.
        queue: the unique queue the module's tasks use.
        directory: where the module is written; the worker runs there.
        module: the module's name.
        queues: every queue the run uses (the first is ``queue``); cleaned up afterwards.
    """

    broker: str
    results: str
    queue: str
    directory: Path
    module: str
    queues: list[str] = field(default_factory=list)

    @property
    def count_file(self) -> Path:
        """Where a counting task writes its byte (see ``counting.py``)."""
        return self.directory / "count"

    def import_app(self) -> Any:
        """The module's App, imported in this process (task names match the worker's)."""
        sys.path.insert(0, str(self.directory))
        return __import__(self.module).app

    def worker(
        self, concurrency: int | None, pool: str | None, *, burst: bool, options: Sequence[str] = ()
    ) -> subprocess.Popen[bytes]:
        """Start ``arame worker MODULE [-c C] [options]`` in its own session (None: the default -c)."""
        argv = [
            str(VENV_BIN / "arame"),
            "worker",
            self.module,
            *(["-c", str(concurrency)] if concurrency is not None else []),
            "--loglevel",
            # INFO measures the per-task log lines too (written to worker.log in the run's folder).
            os.environ.get("ARAME_BENCH_LOGLEVEL", "WARNING"),
        ]
        if pool:
            argv += ["--pool", pool]
        if burst:
            argv.append("--burst")
        argv += options
        # The caller's PYTHONPATH after the module's: a before/after run with PYTHONPATH set to
        # another checkout measures that checkout's worker too, not only its publisher.
        path = os.pathsep.join(filter(None, [str(self.directory), os.environ.get("PYTHONPATH")]))
        env = dict(os.environ, PYTHONPATH=path)
        env.pop("ARAME_BROKER_URL", None)
        env.pop("ARAME_RESULTS_URL", None)
        with open(self.directory / "worker.log", "wb") as log:
            return subprocess.Popen(
                argv,
                cwd=self.directory,
                env=env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )


@contextlib.contextmanager
def bench_app(
    broker: str,
    results: str,
    *,
    prelude: str = "",
    tasks: str = "",
    queue_type: str = "classic",
    count: bool = False,
    queues: int = 1,
    name: str | None = None,
    clean: bool = True,
) -> Iterator[Bench]:
    """A :class:`Bench` for one run; its queues, rows and files are removed afterwards.

    ``prelude`` is Python run at the top of the tasks module (in the publisher and the worker);
    ``tasks`` is more of it at the end, after ``app`` and ``add``; ``queue_type`` is the app's
    RabbitMQ queue type. With ``count``, ``add`` writes a byte to ``bench.count_file`` per call
    (see ``counting.py``). ``queues`` names that many queues (``bench.queues``), the first being
    the default one. ``name`` fixes the module and queue names (else unique); ``clean=False``
    leaves the queue and rows.
    """
    from counting import COUNTER

    directory = Path(tempfile.mkdtemp(prefix="arame-bench-"))
    if broker == "sqlite":
        broker = results = f"sqlite:///{directory / 'arame.db'}"
    suffix = name or uuid.uuid4().hex[:12]
    bench = Bench(broker, results, f"bench-{suffix}", directory, f"bench_tasks_{suffix}")
    bench.queues = [bench.queue] + [f"{bench.queue}-{i}" for i in range(1, queues)]
    counter = COUNTER.format(path=str(bench.count_file)) if count else ""
    (directory / f"{bench.module}.py").write_text(
        textwrap.dedent(prelude)
        + counter
        + textwrap.dedent(f"""\
            import arame

            app = arame.App("bench", broker={broker!r}, results={results!r}, default_queue={bench.queue!r},
                            queue_type={queue_type!r})


            @app.task
            def add(x, y):
                {"tick()" if count else "pass"}
                return x + y
            """)
        + textwrap.dedent(tasks)
    )
    try:
        yield bench
    finally:
        if clean:
            with contextlib.suppress(Exception):
                cleanup(bench)
        shutil.rmtree(directory, ignore_errors=True)


def cleanup(bench: Bench) -> None:
    """Delete the bench queue (and its dead-letter queue) and its rows."""
    if bench.broker.startswith("sqlite"):
        return  # the file goes with the directory

    from arame.transport import parse_broker_url

    app = bench.import_app()
    spec = parse_broker_url(bench.broker)
    queues = bench.queues or [bench.queue]
    subqueues: list[str] = []
    with contextlib.suppress(Exception):
        from arame.coordination.fair_queues import FairRegistry

        subqueues = list(FairRegistry.of(app.results).active(queues))  # fair shares (benchmarks/flow.py)
    for queue in (*queues, *(f"{name}.dead" for name in queues), *subqueues):
        with contextlib.suppress(Exception):
            delete_queue(spec, queue, 0)
    import sqlalchemy as sa

    from arame.coordination.flow_tables import fair_queues
    from arame.results.results_table import results as table

    with app.results.transaction() as conn:
        conn.execute(sa.delete(table).where(table.c.queue.in_([*queues, *subqueues])))
        if subqueues:
            conn.execute(sa.delete(fair_queues).where(fair_queues.c.parent.in_(queues)))
    app.close()


def stop(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM the worker's process group, wait, SIGKILL it if it lingers; its exit code."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return process.wait()


def finished_times(bench: Bench, app: Any) -> list[float]:
    """``finished_at`` of every finished row of the bench queue, epoch seconds, sorted."""
    import sqlalchemy as sa

    from arame.results.results_table import results as table

    with app.results.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.finished_at).where(
                table.c.queue == bench.queue, table.c.finished_at.is_not(None)
            )
        ).all()
    return sorted(epoch(r[0]) for r in rows)


def count_finished(bench: Bench, app: Any) -> int:
    """How many rows of the bench queue are finished."""
    import sqlalchemy as sa

    from arame.results.results_table import results as table

    with app.results.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    table.c.queue == bench.queue, table.c.finished_at.is_not(None)
                )
            ).scalar_one()
        )


def epoch(value: Any) -> float:
    if value.tzinfo is None:  # SQLite hands back naive UTC
        from datetime import UTC

        value = value.replace(tzinfo=UTC)
    return float(value.timestamp())


def steady_rate(times: list[float]) -> float:
    """Rows finished per second between the 10 % and the 90 % mark of ``times`` (sorted)."""
    if len(times) < 10:
        return float("nan")
    lo, hi = len(times) // 10, (len(times) * 9) // 10
    span = times[hi] - times[lo]
    return (hi - lo) / span if span > 0 else float("inf")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` (0..100) percentile, inclusive method."""
    ordered = sorted(values)
    if len(ordered) < 2:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


def deadline(seconds: float) -> Callable[[], bool]:
    """A function that says whether ``seconds`` have passed."""
    end = time.monotonic() + seconds
    return lambda: time.monotonic() > end


def delete_queue(spec: BrokerSpec, queue: str, longest_delay: float) -> None:
    """Delete the queue (and on RabbitMQ its delay queues, which would expire anyway)."""
    from arame.transport.amqp_delay import bucket_ms, queue_name
    from arame.transport.connection import connect, kombu_queue

    connection = connect(spec)
    try:
        channel = connection.default_channel
        bound = kombu_queue(spec, queue)(channel)
        bound.declare()
        bound.purge()
        bound.delete()
        if spec.kind == "amqp":
            for bucket in sorted({bucket_ms(ms) for ms in range(0, int(longest_delay * 1000) + 10, 10)}):
                with contextlib.suppress(Exception):
                    channel.queue_delete(queue_name(queue, bucket))
    finally:
        connection.release()
