"""The everyday commands: worker, send, result, status, purge."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import sys
from datetime import timedelta
from typing import Any

import click

from arame import errors, states
from arame.app import BROKER_ENV, RESULTS_ENV, App
from arame.cli.loading import load_app
from arame.consumers import SHUTDOWN_TIMEOUT
from arame.errors import TaskFailed, TaskNotRegistered
from arame.task import Task
from arame.transport import check_broker, purge_queues, queue_sizes

APP_ARGUMENT = click.argument("app_spec", metavar="MODULE[:ATTR]")
BROKER_OPTION = click.option("--broker", envvar=BROKER_ENV, help=f"Broker URL [env {BROKER_ENV}].")
RESULTS_OPTION = click.option(
    "--results", envvar=RESULTS_ENV, help=f"Results database URL [env {RESULTS_ENV}]."
)
QUEUES_OPTION = click.option("-Q", "--queues", help="Comma-separated queues [default: every task's queue].")
WAIT_TIMEOUT_OPTION = click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="With --wait: seconds to wait at most.",
)
LOG_LEVELS = click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False)


def _open_app(app_spec: str, broker: str | None, results: str | None) -> App:
    app = load_app(app_spec)
    app.configure(broker=broker, results=results)
    return app


def _queues(app: App, queues: str | None) -> list[str]:
    return [q.strip() for q in queues.split(",") if q.strip()] if queues else app.queues()


@click.command()
@APP_ARGUMENT
@QUEUES_OPTION
@click.option("-c", "--concurrency", type=click.IntRange(min=1), help="Tasks at once [default: CPUs].")
@click.option(
    "--pool",
    type=click.Choice(["process", "thread"]),
    help="Child processes or threads [default: process; thread for memory://].",
)
@BROKER_OPTION
@RESULTS_OPTION
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(min=0),
    default=SHUTDOWN_TIMEOUT,
    show_default=True,
    help="Seconds running tasks get to finish after SIGTERM; a second SIGTERM stops at once.",
)
@click.option("--scheduler", "with_scheduler", is_flag=True, help="Also publish the periodic tasks.")
@click.option("--loglevel", type=LOG_LEVELS, default="INFO", show_default=True)
def worker(
    app_spec: str,
    queues: str | None,
    concurrency: int | None,
    pool: str | None,
    broker: str | None,
    results: str | None,
    burst: bool,
    shutdown_timeout: float,
    with_scheduler: bool,
    loglevel: str,
) -> None:
    """Run the tasks of MODULE[:ATTR] from its queues until SIGTERM or SIGINT."""
    logging.basicConfig(
        level=loglevel.upper(), format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"
    )
    app = _open_app(app_spec, broker, results)
    pool = pool or ("process" if app.broker.shared_across_processes else "thread")
    runner = app.worker(
        _queues(app, queues), concurrency, pool=pool, burst=burst, shutdown_timeout=shutdown_timeout
    )
    check_broker(app.broker)
    app.results.counts()  # opens the database (and creates the table) before any child forks
    app.close_results()
    click.echo(
        f"arame worker: {app.broker.safe_url} -> {app.results.safe_url}; "
        f"queues {', '.join(runner.queues)}; {runner.concurrency} {pool} slot(s)",
        err=True,
    )
    if with_scheduler:
        # Its own process: forking worker children from a process with a scheduler thread
        # could copy a lock that thread holds.
        multiprocessing.get_context("fork").Process(target=_run_scheduler, args=(app,), daemon=True).start()
    code = runner.run()
    if runner.abandoned:
        # Not sys.exit: interpreter shutdown would wait for the tasks still running.
        logging.shutdown()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


@click.command()
@APP_ARGUMENT
@click.argument("task_name", metavar="TASK")
@click.argument("args", nargs=-1)
@click.option("--kwargs", "kwargs_json", default="{}", help="Keyword arguments as a JSON object.")
@click.option("--queue", help="Publish to this queue instead of the task's.")
@click.option("--priority", type=click.IntRange(0, 9), help="0 (lowest) .. 9 (highest).")
@click.option("--countdown", type=click.FloatRange(min=0), help="Seconds before it may run.")
@click.option("--wait", is_flag=True, help="Wait for the result and print it.")
@WAIT_TIMEOUT_OPTION
@BROKER_OPTION
@RESULTS_OPTION
def send(
    app_spec: str,
    task_name: str,
    args: tuple[str, ...],
    kwargs_json: str,
    queue: str | None,
    priority: int | None,
    countdown: float | None,
    wait: bool,
    timeout: float,
    broker: str | None,
    results: str | None,
) -> None:
    """Publish TASK of MODULE[:ATTR] with ARGS (each read as JSON, else as a string)."""
    app = _open_app(app_spec, broker, results)
    task = _find_task(app, task_name)
    positional = [_json_or_text(arg) for arg in args]
    keywords = _json_object(kwargs_json)
    try:
        task.signature.bind(*positional, **keywords)
    except TypeError as exc:
        raise click.UsageError(f"arguments do not fit {task.name}{task.signature}: {exc}") from exc
    handle = task.apply_async(positional, keywords, queue=queue, priority=priority, countdown=countdown)
    click.echo(handle.id)
    if wait:
        _print_outcome(app, handle.id, timeout)


@click.command()
@click.argument("task_id")
@click.option("--wait", is_flag=True, help="Wait until the task finishes.")
@WAIT_TIMEOUT_OPTION
@RESULTS_OPTION
def result(task_id: str, wait: bool, timeout: float, results: str | None) -> None:
    """Print the state and the result (or error) of TASK_ID."""
    app = App("arame-cli", results=results)
    if wait:
        _print_outcome(app, task_id, timeout)
        return
    row = app.AsyncResult(task_id).row
    if row is None:
        raise click.ClickException(
            f"{task_id}: UNKNOWN (no task with this id was published to {app.results.safe_url})"
        )
    click.echo(f"{row.id}: {row.state}  task={row.task_name} queue={row.queue} attempts={row.attempts}")
    if row.state == states.SUCCESS:
        click.echo(json.dumps(row.result))
    elif row.error_type:
        click.echo(f"{row.error_type}: {row.error_message}")
        if row.traceback:
            click.echo(row.traceback.rstrip())


def _run_scheduler(app: App) -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    app.scheduler().run()


@click.command()
@APP_ARGUMENT
@BROKER_OPTION
@RESULTS_OPTION
@click.option("--loglevel", type=LOG_LEVELS, default="INFO", show_default=True)
def scheduler(app_spec: str, broker: str | None, results: str | None, loglevel: str) -> None:
    """Publish the periodic tasks of MODULE[:ATTR] at their ticks (each tick once)."""
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = _open_app(app_spec, broker, results)
    if not app.periodic_entries:
        raise click.ClickException(f"{app_spec} declares no periodic task (@app.periodic)")
    runner = app.scheduler()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: runner.stop())
    click.echo(
        f"arame scheduler: {len(app.periodic_entries)} periodic task(s), {app.broker.safe_url}", err=True
    )
    runner.run()


@click.group()
def results() -> None:
    """The results table."""


@results.command()
@APP_ARGUMENT
@RESULTS_OPTION
@click.option("--older-than", type=click.FloatRange(min=0), help="Days [default: the app's result_expires].")
def prune(app_spec: str, results: str | None, older_than: float | None) -> None:
    """Delete finished rows older than result_expires (also run hourly by the scheduler)."""
    app = _open_app(app_spec, None, results)
    if older_than is not None:
        app.result_expires = timedelta(days=older_than)
    click.echo(f"{app.prune()} finished row(s) deleted")


@click.command()
@click.argument("task_id")
@click.option("--terminate", is_flag=True, help="Also stop it if it is running (process pool).")
@RESULTS_OPTION
def revoke(task_id: str, terminate: bool, results: str | None) -> None:
    """Make sure TASK_ID, if it has not started, never runs."""
    app = App("arame-cli", results=results)
    handle = app.AsyncResult(task_id)
    if handle.revoke(terminate=terminate):
        click.echo(f"{task_id}: REVOKED")
        return
    raise click.ClickException(f"{task_id} was not revoked: it is {handle.state}")


@click.command()
@APP_ARGUMENT
@QUEUES_OPTION
@BROKER_OPTION
@RESULTS_OPTION
def status(app_spec: str, queues: str | None, broker: str | None, results: str | None) -> None:
    """Show queue depths and how many tasks are in each state."""
    app = _open_app(app_spec, broker, results)
    click.echo(f"broker  {app.broker.safe_url}")
    for name, depth in queue_sizes(app.broker, _queues(app, queues)).items():
        click.echo(f"  {name:<24} {depth:>8} ready")
    click.echo(f"results {app.results.safe_url}")
    for state, count in sorted(app.results.counts().items()):
        click.echo(f"  {state:<24} {count:>8}")


@click.command()
@APP_ARGUMENT
@click.option("-Q", "--queues", required=True, help="Comma-separated queues to empty.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@BROKER_OPTION
def purge(app_spec: str, queues: str, yes: bool, broker: str | None) -> None:
    """Delete every ready message of the given queues."""
    app = _open_app(app_spec, broker, None)
    names = _queues(app, queues)
    if not yes:
        click.confirm(
            f"Delete every ready message of {', '.join(names)} on {app.broker.safe_url}?", abort=True
        )
    for name, count in purge_queues(app.broker, names).items():
        click.echo(f"{name}: {count} message(s) deleted")


def _find_task(app: App, name: str) -> Task[Any, Any]:
    """The task named exactly ``name``, or the only one whose name ends with ``.name``."""
    if name in app.tasks:
        return app.tasks[name]
    matches = [task for full, task in app.tasks.items() if full.endswith("." + name)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise click.UsageError(f"{name!r} is ambiguous: {', '.join(sorted(t.name for t in matches))}")
    raise TaskNotRegistered(name, sorted(app.tasks))


def _print_outcome(app: App, task_id: str, timeout: float) -> None:
    try:
        value = app.AsyncResult(task_id).get(timeout=timeout)
    except TaskFailed as exc:
        click.echo(exc.remote_traceback.rstrip() if exc.remote_traceback else "", err=True)
        raise click.ClickException(f"task {task_id} failed: {exc.remote_type}: {exc.remote_message}") from exc
    except errors.TimeoutError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(value))


def _json_or_text(arg: str) -> Any:
    try:
        return json.loads(arg)
    except ValueError:
        return arg


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--kwargs") from exc
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--kwargs")
    return value
