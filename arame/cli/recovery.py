"""``arame retry`` and ``arame reconcile``: run tasks again from their rows."""

from __future__ import annotations

import click

from arame.cli.loading import app_option, open_app, require_results_database
from arame.cli.options import BROKER_OPTION, QUEUES_OPTION, RESULTS_OPTION, queue_names
from arame.recovery import RECONCILE_GRACE


@click.command()
@app_option()
@click.argument("task_id")
@BROKER_OPTION
@RESULTS_OPTION
def retry(app_spec: str, task_id: str, broker: str | None, results: str | None) -> None:
    """Run a FAILURE or REVOKED task again: same id, from the message its row keeps."""
    app = open_app(app_spec, broker=broker, results=results)
    require_results_database(app)
    try:
        app.retry(task_id)
    finally:
        app.close()
    click.echo(f"{task_id}: PENDING again, published")


@click.command()
@app_option()
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    default=RECONCILE_GRACE,
    show_default=True,
    help="Seconds a PENDING row must be past its creation (or eta) to count as lost.",
)
@QUEUES_OPTION
@BROKER_OPTION
@RESULTS_OPTION
def reconcile(
    app_spec: str, older_than: float, queues: str | None, broker: str | None, results: str | None
) -> None:
    """Publish again the PENDING tasks of the app's queues whose message the broker no longer holds."""
    app = open_app(app_spec, broker=broker, results=results)
    require_results_database(app)
    try:
        republished = app.reconcile(older_than, queue_names(app, queues))
    finally:
        app.close()
    for task_id in republished:
        click.echo(task_id)
    click.echo(f"{len(republished)} lost task(s) published again", err=True)
