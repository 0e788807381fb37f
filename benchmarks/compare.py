"""arame next to Dramatiq and Celery on one machine, interleaved: the figures of the performance targets.

Every system's task does the same per-task work: one ``write()`` of a byte to a count file opened
once per process with ``O_APPEND`` (``counting.py``); the file's size counts completions, so no
system pays a round trip to count. ``-n`` no-op tasks are published first, then ONE worker starts
with its system's default concurrency; arame records every result in PostgreSQL and acknowledges
after the commit, the peers record nothing (Celery acknowledges on receipt, its default).

Sections (``--sections``), each run interleaved across systems and brokers, ``--repeat`` times:

- ``throughput``: tasks/s between the 10 % and 90 % marks, and the worker's CPU per task (user +
  system of its whole process tree, from ``/proc``, over the same span). arame, Dramatiq and
  Celery on RabbitMQ and Redis; arame alone on the PostgreSQL broker and SQLite;
- ``roundtrip``: ``delay().get()`` against an idle worker, p50 / p99; arame on RabbitMQ, Redis
  and the PostgreSQL broker, Dramatiq (Results middleware, Redis backend) on RabbitMQ and Redis;
- ``publish``: arame's ``delay()`` loop on one thread (row and message) and ``Task.map`` 1,000 per
  call, on RabbitMQ, Redis and the PostgreSQL broker with PostgreSQL results, waiting for the
  broker (``confirm``) and with ``publish_in_background`` (``background``); and the floors of
  publishing, each step alone (``floors.py``);
- ``queues``: arame's throughput with the tasks spread over 100 queues against one queue (RabbitMQ, Redis);
- ``memory``: PSS of each worker process every ``--memory-step`` tasks (once, not repeated);
- ``growth``: ``growth.py``, with a big results table and a deep SQL queue against empty ones.

The peers run from another environment (``--peer-python``), never the project's:

    python3 -m venv /tmp/peers-venv
    /tmp/peers-venv/bin/pip install 'dramatiq[rabbitmq,redis]==2.2.1' 'celery[redis]==5.7.0'
    .venv/bin/python benchmarks/compare.py --peer-python /tmp/peers-venv/bin/python \\
        --json benchmarks/results/compare.json --plot docs/throughput.png

``--quick`` scales every count down (a few minutes on a quiet machine). Each run is a fresh
interpreter.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import report

HERE = Path(__file__).resolve().parent
PEERS = ("dramatiq", "celery")
SECTIONS = ("throughput", "roundtrip", "publish", "queues", "growth", "memory")
GROWTH = ("delay-redis", "delay-postgresql", "claim", "fetch")
FULL = {"n": 10_000, "rt_n": 500, "publish_n": 3000, "memory_n": 1_000_000, "memory_step": 100_000}
FULL |= {"growth_rows": 10_000_000, "growth_messages": 1_000_000}
QUICK = {"n": 2000, "rt_n": 100, "publish_n": 1000, "memory_n": 20_000, "memory_step": 5000}
QUICK |= {"growth_rows": 100_000, "growth_messages": 20_000}


def jobs(section: str, brokers: list[str]) -> list[dict[str, Any]]:
    """The runs of one repeat of ``section``, in the interleaved order."""
    peer_brokers = [b for b in brokers if b in ("rabbitmq", "redis")]
    if section == "throughput":
        return [
            {"system": s, "broker": b}
            for b in brokers
            for s in ("arame", *(PEERS if b in peer_brokers else ()))
        ]
    if section == "roundtrip":
        rt = [b for b in brokers if b != "sqlite"]
        return [
            {"system": s, "broker": b}
            for b in rt
            for s in ("arame", *(("dramatiq",) if b in peer_brokers else ()))
        ]
    if section == "publish":
        publish_brokers = [b for b in brokers if b in ("rabbitmq", "redis", "postgresql")]
        return [{"system": "floors", "broker": "rabbitmq"}] + [
            {"system": "arame", "broker": b, "variant": v}
            for b in publish_brokers
            for v in ("confirm", "background")
        ]
    if section == "queues":
        return [{"system": "arame", "broker": b, "queues": q} for b in peer_brokers for q in (1, 100)]
    if section == "memory":
        return [{"system": "arame", "broker": "rabbitmq"}]
    return [
        {"system": "arame", "broker": "postgresql", "what": w, "variant": v}
        for w in GROWTH
        for v in ("empty", "big")
    ]


def child_argv(args: argparse.Namespace, section: str, job: dict[str, Any]) -> list[str]:
    """The command of one run in a fresh interpreter."""
    python = args.peer_python if job["system"] in PEERS else sys.executable
    argv = [python, str(HERE / "compare.py"), "--child", "--section", section, "--system", job["system"]]
    argv += ["--broker", job["broker"], "--queues", str(job.get("queues", 1))]
    argv += ["--what", job.get("what", ""), "--variant", job.get("variant", "")]
    for key in (*FULL, "timeout"):
        argv += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    return argv


def run_child(args: argparse.Namespace, section: str, job: dict[str, Any]) -> dict[str, float] | None:
    """One run; its figures, or None if it failed (its output then goes to stderr)."""
    process = subprocess.Popen(
        child_argv(args, section, job), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = process.communicate(timeout=args.timeout + 300)
    except subprocess.TimeoutExpired:
        process.terminate()
        out, err = process.communicate()
    found = [dict(json.loads(line[7:])) for line in out.splitlines() if line.startswith("RESULT ")]
    if not found or not all(math.isfinite(v) for v in found[0].values()):
        print(out[-2000:] + err[-3000:], file=sys.stderr)
        return None
    return found[0]


def run_section(args: argparse.Namespace, section: str, brokers: list[str]) -> list[dict[str, Any]]:
    """Every run of ``section``: each repeat goes once through every job."""
    runs: list[dict[str, Any]] = []
    repeats = 1 if section == "memory" else args.repeat
    for repeat in range(1, repeats + 1):
        for job in jobs(section, brokers):
            load = os.getloadavg()[0]
            figures = run_child(args, section, job)
            label = " ".join(str(v) for v in job.values())
            shown = "failed" if figures is None else "  ".join(f"{k} {v:.4g}" for k, v in figures.items())
            print(f"  {section} {repeat}/{repeats} {label:32} load {load:4.2f}  {shown}", flush=True)
            if figures is not None:
                runs.append({"section": section, "repeat": repeat, "load": load, **job, **figures})
    return runs


def child(args: argparse.Namespace) -> dict[str, float]:
    """The run this interpreter was started for."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # leave through the finally blocks
    sys.path.insert(0, str(HERE))
    broker = {"rabbitmq": "amqp://guest:guest@127.0.0.1:5672//", "redis": "redis://127.0.0.1:6379/14"}.get(
        args.broker, args.broker
    )
    if args.system in PEERS:
        import peers

        args.n = args.rt_n if args.section == "roundtrip" else args.n
        measure = peers.roundtrip if args.section == "roundtrip" else peers.throughput
        return measure(args, args.system, broker)
    return arame_child(args)


def arame_child(args: argparse.Namespace) -> dict[str, float]:
    """An arame run of ``args.section``."""
    import common
    import ours

    broker, results = common.resolve(args.broker, "postgresql")
    if args.section == "throughput":
        return ours.throughput(args, broker, results)
    if args.section == "queues":
        return ours.throughput(args, broker, results, queues=args.queues)
    if args.section == "roundtrip":
        args.n = args.rt_n
        return ours.roundtrip(args, broker, results)
    if args.section == "publish" and args.system == "floors":
        import floors

        return floors.measure(args.publish_n)
    if args.section == "publish":
        args.n = args.publish_n
        return ours.delay_loop(args, broker, results)
    if args.section == "memory":
        import memory_use as memory

        args.n, args.step, args.trace, args.concurrency, args.pool = (
            args.memory_n,
            args.memory_step,
            True,
            2,
            None,
        )
        return memory.measure(args, broker, results)
    import growth

    return growth.measure(args, args.variant, args.what)


def parser() -> argparse.ArgumentParser:
    """The options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--broker", default="rabbitmq,redis,postgresql,sqlite", help="comma-separated names")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of {list(SECTIONS)}")
    p.add_argument("--peer-python", default="/tmp/peers-venv/bin/python", help="the peers' interpreter")
    p.add_argument("--repeat", type=int, default=3, help="interleaved rounds per section [3]")
    p.add_argument("--quick", action="store_true", help=f"scaled-down counts: {QUICK}")
    for key, value in FULL.items():
        p.add_argument(f"--{key.replace('_', '-')}", type=int, help=f"[{value:,}; quick {QUICK[key]:,}]")
    # The memory run at the default counts (1,000,000 tasks) took 930 s on a 2-core machine.
    p.add_argument("--timeout", type=float, default=2400.0, help="seconds one run may take [2400]")
    p.add_argument("--json", type=Path, help="write every run and the summary here")
    p.add_argument("--plot", type=Path, help="draw the throughput chart to this PNG")
    for hidden in ("--section", "--system", "--what", "--variant"):
        p.add_argument(hidden, default="", help=argparse.SUPPRESS)
    p.add_argument("--queues", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return p


def main() -> None:
    """Run the sections (or, with ``--child``, one run)."""
    args = parser().parse_args()
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.child:
        print("RESULT " + json.dumps(child(args)), flush=True)
        return
    brokers, sections = args.broker.split(","), args.sections.split(",")
    started = time.time()
    now = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    print(f"{now}  load {os.getloadavg()}  cores {os.cpu_count()}")
    print(f"counts { ({k: getattr(args, k) for k in FULL}) }  repeat {args.repeat}", flush=True)
    runs: list[dict[str, Any]] = []
    for section in sections:
        print(f"{section}: load {os.getloadavg()}", flush=True)
        if section == "growth":
            runs += growth_section(args, brokers)
        else:
            runs += run_section(args, section, brokers)
        save(args, runs, started)
    figures = save(args, runs, started)
    report.print_targets(figures["summary"])


def growth_section(args: argparse.Namespace, brokers: list[str]) -> list[dict[str, Any]]:
    """Build the big schema, run the growth section, drop the schema."""
    sys.path.insert(0, str(HERE))
    import growth

    began = time.monotonic()
    growth.build(args.growth_rows, args.growth_messages)
    print(f"  built in {time.monotonic() - began:.0f}s", flush=True)
    try:
        return run_section(args, "growth", brokers)
    finally:
        growth.drop_all()


def save(args: argparse.Namespace, runs: list[dict[str, Any]], started: float) -> dict[str, Any]:
    """The runs, their summary and versions, written to ``--json`` (and the chart) as they grow."""
    figures = {
        "started": started,
        "elapsed_s": time.time() - started,
        "counts": {k: getattr(args, k) for k in FULL} | {"repeat": args.repeat, "cores": os.cpu_count()},
        "versions": versions(args.peer_python),
        "runs": runs,
        "summary": report.summarize(runs),
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    if args.plot and any(r["section"] == "throughput" for r in runs):
        import plot

        plot.draw(figures, args.plot)
    return figures


def versions(peer_python: str) -> dict[str, str]:
    """Versions of what was compared."""
    found = {"python": platform.python_version()}
    from importlib import metadata

    with contextlib.suppress(metadata.PackageNotFoundError):
        found["arame"] = metadata.version("arame")
    code = "from importlib import metadata as m; print(m.version('dramatiq'), m.version('celery'))"
    with contextlib.suppress(OSError, ValueError, subprocess.CalledProcessError):
        dramatiq, celery = subprocess.check_output([peer_python, "-c", code], text=True).split()
        found |= {"dramatiq": dramatiq, "celery": celery}
    return found


if __name__ == "__main__":
    main()
