"""``arame dead``: inspect, requeue and purge the dead-letter queues."""

from __future__ import annotations

import json

import click

from arame.app import App
from arame.cli.loading import APP_ENV, app_from_command_line, app_option, open_app, require_broker_database
from arame.cli.options import BROKER_OPTION, QUEUES_OPTION, queue_names
from arame.cli.printing import printable
from arame.transport import dead_letter_queue, list_dead, purge_queues


def _app_and_queues(app_spec: str, broker: str | None, queues: str | None) -> tuple[App, list[str]]:
    app = open_app(app_spec, broker=broker)
    require_broker_database(app)
    return app, queue_names(app, queues)


@click.group()
def dead() -> None:
    """Messages no worker could run: moved aside to QUEUE.dead with the reason."""


@dead.command("list")
@app_option(positional=True)
@QUEUES_OPTION
@BROKER_OPTION
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
def list_command(app_spec: str, queues: str | None, broker: str | None, limit: int) -> None:
    """One line per dead letter: queue, task id, reason."""
    app, names = _app_and_queues(app_spec, broker, queues)
    total = 0
    for queue in names:
        for letter in list_dead(app.broker, queue, limit):
            total += 1
            shown = f"{printable(letter.task_id):<34} {printable(letter.reason)}"  # written by a publisher
            click.echo(f"{queue:<20} {shown}")
    click.echo(f"{total} dead letter(s)", err=True)


@dead.command()
@app_option(required=False)
@click.argument("words", nargs=-1, metavar="[MODULE[:ATTR]] TASK_ID")
@QUEUES_OPTION
@BROKER_OPTION
def show(app_spec: str | None, words: tuple[str, ...], queues: str | None, broker: str | None) -> None:
    """The whole dead letter of TASK_ID: reason, headers and body."""
    if len(words) == 2 and not (app_spec and app_from_command_line()):
        app_spec, words = words[0], words[1:]
    if len(words) != 1 or app_spec is None:
        raise click.UsageError(f"give the app and one task id: [-A] MODULE[:ATTR] TASK_ID (or set {APP_ENV})")
    task_id = words[0]
    app, names = _app_and_queues(app_spec, broker, queues)
    for queue in names:
        for letter in list_dead(app.broker, queue, limit=10_000):
            if letter.task_id == task_id:
                click.echo(f"queue:        {queue} (in {dead_letter_queue(queue)})")
                click.echo(f"reason:       {printable(letter.reason)}")
                click.echo(f"content type: {printable(letter.content_type)}")
                click.echo(f"headers:      {json.dumps(letter.headers, default=str)}")
                click.echo(f"body:         {printable(letter.body.decode('utf-8', 'replace'), lines=True)}")
                return
    raise click.ClickException(f"no dead letter with task id {task_id} in {', '.join(names)}")


@dead.command()
@app_option(positional=True)
@click.option("--id", "task_id", help="Only the dead letter of this task id.")
@QUEUES_OPTION
@BROKER_OPTION
def requeue(app_spec: str, task_id: str | None, queues: str | None, broker: str | None) -> None:
    """Publish dead letters back to their queue (after fixing what made them fail)."""
    app, names = _app_and_queues(app_spec, broker, queues)
    for queue in names:
        moved = app.requeue_dead(queue, task_id)
        if moved:
            click.echo(f"{queue}: {len(moved)} message(s) back in the queue, their tasks PENDING again")


@dead.command()
@app_option(positional=True)
@QUEUES_OPTION
@BROKER_OPTION
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge(app_spec: str, queues: str | None, broker: str | None, yes: bool) -> None:
    """Delete every dead letter of the queues."""
    app, names = _app_and_queues(app_spec, broker, queues)
    dead_queues = [dead_letter_queue(q) for q in names]
    if not yes:
        click.confirm(f"Delete every message of {', '.join(dead_queues)}?", abort=True)
    for name, count in purge_queues(app.broker, dead_queues).items():
        click.echo(f"{name}: {count} message(s) deleted")
