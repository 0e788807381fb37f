"""The commands that look: result, revoke, status. None of them creates a database."""

from __future__ import annotations

import json
from datetime import datetime

import click

from arame import states
from arame.app import App
from arame.cli.commands import print_outcome
from arame.cli.loading import app_option, open_app, require_broker_database, require_results_database
from arame.cli.options import BROKER_OPTION, QUEUES_OPTION, RESULTS_OPTION, WAIT_TIMEOUT_OPTION, queue_names
from arame.errors import ConfigurationError
from arame.results import ResultRow
from arame.transport import dead_sizes, delayed_sizes, in_flight_sizes, queue_sizes


def _results_app(app_spec: str | None, results: str | None) -> App:
    """The app whose results table to read; without one, ``--results`` (or its env var)."""
    app = open_app(app_spec, results=results)
    require_results_database(app)
    return app


@click.command()
@click.argument("task_id")
@app_option(required=False)
@click.option("--wait", is_flag=True, help="Wait until the task finishes.")
@WAIT_TIMEOUT_OPTION
@RESULTS_OPTION
def result(task_id: str, app_spec: str | None, wait: bool, timeout: float, results: str | None) -> None:
    """Print the state, timings and result (or error) of TASK_ID."""
    app = _results_app(app_spec, results)
    if wait:
        print_outcome(app, task_id, timeout)
        return
    row = app.AsyncResult(task_id).row
    if row is None:
        raise click.ClickException(
            f"{task_id}: UNKNOWN (no task with this id was published to {app.results.safe_url})"
        )
    click.echo(f"{row.id}: {row.state}  task={row.task_name} queue={row.queue} attempts={row.attempts}")
    click.echo(_timings(row))
    if row.state == states.SUCCESS:
        click.echo(json.dumps(row.result))
    elif row.error_type:
        click.echo(f"{row.error_type}: {row.error_message}")
        if row.traceback:
            click.echo(row.traceback.rstrip())


def _timings(row: ResultRow) -> str:
    """``worker=… started=… finished=… runtime=…s``, ``-`` for what has not happened."""
    runtime = (
        f"{(row.finished_at - row.started_at).total_seconds():.3f}s"
        if row.started_at is not None and row.finished_at is not None
        else "-"
    )
    return (
        f"worker={row.worker or '-'} started={_moment(row.started_at)} "
        f"finished={_moment(row.finished_at)} runtime={runtime}"
    )


def _moment(moment: datetime | None) -> str:
    return moment.isoformat(timespec="milliseconds") if moment is not None else "-"


@click.command()
@click.argument("task_id")
@app_option(required=False)
@click.option("--terminate", is_flag=True, help="Also stop it if it is running (process pool).")
@RESULTS_OPTION
def revoke(task_id: str, app_spec: str | None, terminate: bool, results: str | None) -> None:
    """Make sure TASK_ID, if it has not started, never runs."""
    handle = _results_app(app_spec, results).AsyncResult(task_id)
    if handle.revoke(terminate=terminate):
        click.echo(f"{task_id}: REVOKED")
        return
    raise click.ClickException(f"{task_id} was not revoked: it is {handle.state}")


@click.command()
@app_option(positional=True)
@QUEUES_OPTION
@BROKER_OPTION
@RESULTS_OPTION
def status(app_spec: str, queues: str | None, broker: str | None, results: str | None) -> None:
    """Per queue: messages ready, delayed, in flight and dead; then tasks per state.

    "?" where the broker cannot tell (RabbitMQ keeps delayed messages in per-delay queues and
    counts unacknowledged ones only in its management API).
    """
    app = open_app(app_spec, broker=broker, results=results)
    require_broker_database(app)
    names = queue_names(app, queues)
    ready, delayed = queue_sizes(app.broker, names), delayed_sizes(app.broker, names)
    in_flight, dead = in_flight_sizes(app.broker, names), dead_sizes(app.broker, names)
    paused = _paused(app, names)
    click.echo(f"broker  {app.broker.safe_url}")
    click.echo(f"  {'queue':<24} {'ready':>8} {'delayed':>8} {'in flight':>9} {'dead':>8}")
    for name in names:
        counts = (_count(ready[name]), _count(delayed[name]), _count(in_flight[name]), _count(dead[name]))
        mark = "  paused" if name in paused else ""
        click.echo(f"  {name:<24} {counts[0]:>8} {counts[1]:>8} {counts[2]:>9} {counts[3]:>8}{mark}")
    click.echo(f"results {app.results.safe_url}")
    require_results_database(app)
    for state, count in sorted(app.results.counts().items()):
        click.echo(f"  {state:<24} {count:>8}")


def _paused(app: App, names: list[str]) -> set[str]:
    """The paused queues among ``names``; none while the results database is not there yet."""
    try:
        require_results_database(app)
    except ConfigurationError:
        return set()  # reported below, after the queues
    return set(app.workers.pauses.paused(names))


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)
