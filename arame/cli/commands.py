"""The commands that run or change things: worker, send, scheduler, purge, results prune."""

from __future__ import annotations

import importlib.util
import json
import signal
from datetime import timedelta
from typing import Any

import click

from arame import errors
from arame.app import App
from arame.cli.loading import (
    APP_ENV,
    app_from_command_line,
    app_option,
    open_app,
    require_broker_database,
    require_results_database,
)
from arame.cli.logs import configure_logging, logging_options
from arame.cli.options import BROKER_OPTION, QUEUES_OPTION, RESULTS_OPTION, WAIT_TIMEOUT_OPTION, queue_names
from arame.consumers import SHUTDOWN_TIMEOUT
from arame.consumers.worker import run_and_exit
from arame.errors import TaskFailed, TaskNotRegistered
from arame.task import Task
from arame.transport import check_broker, purge_queues


@click.command()
@app_option(positional=True)
@QUEUES_OPTION
@click.option(
    "-c", "--concurrency", type=click.IntRange(min=1), help="Tasks at once [default: CPUs; asyncio: 1000]."
)
@click.option(
    "--pool",
    type=click.Choice(["process", "thread", "asyncio"]),
    help="Child processes, threads, or asyncio (one process; async tasks run as asyncio tasks on "
    "one event loop, sync tasks on threads) [default: process; thread for memory://].",
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
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve Prometheus metrics on this port (the 'metrics' extra).",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address of --metrics-port.")
@logging_options
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
    metrics_port: int | None,
    metrics_host: str,
    loglevel: str,
    log_format: str,
) -> None:
    """Run the tasks of the app from its queues until SIGTERM or SIGINT."""
    configure_logging(loglevel, log_format)
    app = open_app(app_spec, broker=broker, results=results)
    pool = pool or ("process" if app.broker.shared_across_processes else "thread")
    if metrics_port is not None and importlib.util.find_spec("prometheus_client") is None:
        raise click.UsageError("--metrics-port needs prometheus_client: pip install 'arame[metrics]'")
    runner = app.worker(
        queue_names(app, queues),
        concurrency,
        pool=pool,
        burst=burst,
        shutdown_timeout=shutdown_timeout,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
    )
    check_broker(app.broker)
    app.results.counts()  # opens the database (and creates the table) before any child forks
    app.close_results()
    click.echo(
        f"arame worker: {app.broker.safe_url} -> {app.results.safe_url}; "
        f"queues {', '.join(runner.queues)}; {runner.concurrency} {pool} slot(s)",
        err=True,
    )
    run_and_exit(runner, beside=(lambda: app.scheduler().run()) if with_scheduler else None)


@click.command()
@app_option(required=False)
@click.argument("words", nargs=-1, metavar="[MODULE[:ATTR]] TASK [ARGS]...")
@click.option("--kwargs", "kwargs_json", default="{}", help="Keyword arguments as a JSON object.")
@click.option("--queue", help="Publish to this queue instead of the task's.")
@click.option("--priority", type=click.IntRange(0, 9), help="0 (lowest) .. 9 (highest).")
@click.option("--countdown", type=click.FloatRange(min=0), help="Seconds before it may run.")
@click.option("--wait", is_flag=True, help="Wait for the result and print it.")
@WAIT_TIMEOUT_OPTION
@BROKER_OPTION
@RESULTS_OPTION
def send(
    app_spec: str | None,
    words: tuple[str, ...],
    kwargs_json: str,
    queue: str | None,
    priority: int | None,
    countdown: float | None,
    wait: bool,
    timeout: float,
    broker: str | None,
    results: str | None,
) -> None:
    """Publish TASK of the app with ARGS (each read as JSON, else as a string)."""
    app, task, args = _app_and_task(app_spec, list(words), broker, results)
    positional = [_json_or_text(arg) for arg in args]
    keywords = _json_object(kwargs_json)
    try:
        task.signature.bind(*positional, **keywords)
    except TypeError as exc:
        raise click.UsageError(f"arguments do not fit {task.name}{task.signature}: {exc}") from exc
    handle = task.apply_async(positional, keywords, queue=queue, priority=priority, countdown=countdown)
    click.echo(handle.id)
    if wait:
        print_outcome(app, handle.id, timeout)


def _app_and_task(
    app_spec: str | None, words: list[str], broker: str | None, results: str | None
) -> tuple[App, Task[Any, Any], list[str]]:
    """The app, the task and its arguments, wherever the app was named.

    ``-A`` on the command line: WORDS are TASK ARGS. Else the first word is MODULE, unless
    ``$ARAME_APP`` names an app that has a task of that name.
    """
    if app_spec is not None and not app_from_command_line() and words:
        try:
            app = open_app(app_spec, broker=broker, results=results)
        except errors.ConfigurationError:
            if len(words) < 2:
                raise
            app_spec = None  # MODULE TASK given: $ARAME_APP is not needed
        else:
            if _has_task(app, words[0]):
                return app, _find_task(app, words[0]), words[1:]
            app_spec = None
    if app_spec is None:
        if len(words) < 2:
            raise click.UsageError(f"give the app and the task: [-A] MODULE[:ATTR] TASK (or set {APP_ENV})")
        app_spec, words = words[0], words[1:]
    if not words:
        raise click.UsageError("which task? give its name after the app")
    app = open_app(app_spec, broker=broker, results=results)
    return app, _find_task(app, words[0]), words[1:]


@click.command()
@app_option(positional=True)
@BROKER_OPTION
@RESULTS_OPTION
@logging_options
def scheduler(app_spec: str, broker: str | None, results: str | None, loglevel: str, log_format: str) -> None:
    """Publish the periodic tasks of the app at their ticks (each tick once)."""
    configure_logging(loglevel, log_format)
    app = open_app(app_spec, broker=broker, results=results)
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
@app_option(positional=True)
@RESULTS_OPTION
@click.option("--older-than", type=click.FloatRange(min=0), help="Days [default: the app's result_expires].")
def prune(app_spec: str, results: str | None, older_than: float | None) -> None:
    """Delete finished rows older than result_expires (also run hourly by the scheduler)."""
    app = open_app(app_spec, results=results)
    require_results_database(app)
    if older_than is not None:
        app.result_expires = timedelta(days=older_than)
    click.echo(f"{app.prune()} finished row(s) deleted")


@click.command()
@app_option(positional=True)
@click.option("-Q", "--queues", required=True, help="Comma-separated queues to empty.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@BROKER_OPTION
def purge(app_spec: str, queues: str, yes: bool, broker: str | None) -> None:
    """Delete every ready message of the given queues."""
    app = open_app(app_spec, broker=broker)
    require_broker_database(app)
    names = queue_names(app, queues)
    if not yes:
        click.confirm(
            f"Delete every ready message of {', '.join(names)} on {app.broker.safe_url}?", abort=True
        )
    for name, count in purge_queues(app.broker, names).items():
        click.echo(f"{name}: {count} message(s) deleted")


def _has_task(app: App, name: str) -> bool:
    app.import_included()
    return name in app.tasks or any(full.endswith("." + name) for full in app.tasks)


def _find_task(app: App, name: str) -> Task[Any, Any]:
    """The task named exactly ``name``, or the only one whose name ends with ``.name``."""
    app.import_included()  # Celery's include=: the tasks may live in modules imported now
    if name in app.tasks:
        return app.tasks[name]
    matches = [task for full, task in app.tasks.items() if full.endswith("." + name)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise click.UsageError(f"{name!r} is ambiguous: {', '.join(sorted(t.name for t in matches))}")
    raise TaskNotRegistered(name, sorted(app.tasks))


def print_outcome(app: App, task_id: str, timeout: float) -> None:
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
