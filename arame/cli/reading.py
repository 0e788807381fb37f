"""The commands that look: result, revoke, status. None of them creates a database."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

import click

from arame import states
from arame.app import App
from arame.cli.commands import print_outcome
from arame.cli.loading import app_option, open_app, require_broker_database, require_results_database
from arame.cli.options import BROKER_OPTION, QUEUES_OPTION, RESULTS_OPTION, WAIT_TIMEOUT_OPTION, queue_names
from arame.cli.printing import printable
from arame.cli.scope import ALL_OPTION, every_queue, only_read
from arame.errors import ConfigurationError, NoResultsTable, ResultStoreError
from arame.results import ResultRow
from arame.results.outbox_rows import OutboxRows
from arame.transport import dead_sizes, delayed_sizes, in_flight_sizes, queue_sizes


def _results_app(app_spec: str | None, results: str | None) -> App:
    """The app whose results table to read; without one, ``--results`` (or its env var)."""
    app = only_read(open_app(app_spec, results=results))
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
    # Everything but the JSON (which escapes them itself) may hold control characters.
    click.echo(
        f"{printable(row.id)}: {printable(row.state)}  task={printable(row.task_name)} "
        f"queue={printable(row.queue)} attempts={row.attempts}"
    )
    click.echo(_timings(row))
    if row.state == states.SUCCESS:
        click.echo(json.dumps(row.result))
    elif row.error_type:
        click.echo(f"{printable(row.error_type)}: {printable(row.error_message)}")
        if row.traceback:
            click.echo(printable(row.traceback.rstrip(), lines=True))


def _timings(row: ResultRow) -> str:
    """``worker=… started=… finished=… runtime=…s``, ``-`` for what has not happened."""
    runtime = (
        f"{(row.finished_at - row.started_at).total_seconds():.3f}s"
        if row.started_at is not None and row.finished_at is not None
        else "-"
    )
    return (
        f"worker={printable(row.worker)} started={_moment(row.started_at)} "
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
@ALL_OPTION
@BROKER_OPTION
@RESULTS_OPTION
def status(app_spec: str, queues: str | None, every: bool, broker: str | None, results: str | None) -> None:
    """Per queue: messages ready, delayed, in flight and dead; then the tasks per state.

    The app's own queues and their rows (``--all``: every queue and row of the results
    database). "?" where the broker cannot tell (RabbitMQ keeps delayed messages in per-delay
    queues and counts unacknowledged ones only in its management API).
    """
    app = only_read(open_app(app_spec, broker=broker, results=results))
    unrecorded = _nothing_recorded(app)
    names = queue_names(app, queues) if queues else app.own_queues()
    if every and not queues and unrecorded is None:
        names = every_queue(app)
    _print_queues(app, names, set() if unrecorded else set(app.workers.pauses.paused(names)))
    scope = "" if every else " (rows of these queues; --all: every row)"
    click.echo(f"results {app.results.safe_url}{scope}")
    if unrecorded is not None:
        click.echo(f"  {unrecorded}")
        return
    for state, count in sorted(app.results.counts(None if every else names).items()):
        click.echo(f"  {printable(state):<24} {count:>8}")
    _print_unpublished(app, None if every else names)


def _print_unpublished(app: App, names: list[str] | None) -> None:
    """The tasks committed in a caller's transaction whose publish has not happened yet."""
    try:
        waiting = sum(OutboxRows(app.results).waiting(names).values())
    except ResultStoreError:
        return  # a results table made before the outbox, never written through it
    # Lower case beside the states: committed rows (PENDING) whose message is not in the broker yet.
    click.echo(f"  {'unpublished':<24} {waiting:>8}")


def _print_queues(app: App, names: list[str], paused: set[str]) -> None:
    click.echo(f"broker  {app.broker.safe_url}")
    try:
        require_broker_database(app)
    except ConfigurationError:
        # The embedded database is created by the first publish: no file, no message.
        click.echo("  nothing published yet: no broker database, every queue is empty")
        sizes: list[Mapping[str, int | None]] = [dict.fromkeys(names, 0)] * 4
    else:
        sizes = [
            size(app.broker, names) for size in (queue_sizes, delayed_sizes, in_flight_sizes, dead_sizes)
        ]
    click.echo(f"  {'queue':<24} {'ready':>8} {'delayed':>8} {'in flight':>9} {'dead':>8}")
    for name in names:
        counts = [_count(found[name]) for found in sizes]
        mark = "  paused" if name in paused else ""
        shown = f"{counts[0]:>8} {counts[1]:>8} {counts[2]:>9} {counts[3]:>8}{mark}"
        click.echo(f"  {printable(name):<24} {shown}")


def _nothing_recorded(app: App) -> str | None:
    """Why there are no rows to read (no database, no table yet), or ``None``: there may be."""
    try:
        require_results_database(app)
        app.results.engine  # noqa: B018 - opening it tells a reader whether the table is there
    except (ConfigurationError, NoResultsTable):
        return "nothing recorded yet: no results table"
    return None


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)
