"""``arame retry`` and ``arame reconcile``: run tasks again from their rows."""

from __future__ import annotations

import click

from arame.cli.loading import app_option, open_app, require_results_database
from arame.cli.options import BROKER_OPTION, QUEUES_OPTION, RESULTS_OPTION, queue_names
from arame.cli.printing import printable
from arame.recovery import RECONCILE_GRACE, RECONCILE_GRACE_BY_ID
from arame.recovery import reconcile as reconcile_rows


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
    help=f"Seconds a PENDING row must be past its creation (or eta) to count as lost "
    f"[default: {RECONCILE_GRACE_BY_ID:g} on Redis and SQL brokers, which list the ids they hold; "
    f"{RECONCILE_GRACE:g} elsewhere].",
)
@QUEUES_OPTION
@BROKER_OPTION
@RESULTS_OPTION
def reconcile(
    app_spec: str, older_than: float | None, queues: str | None, broker: str | None, results: str | None
) -> None:
    """Publish again the PENDING tasks of the app's queues whose message the broker no longer holds."""
    app = open_app(app_spec, broker=broker, results=results)
    require_results_database(app)
    try:
        done = reconcile_rows(app.results, app.producer, app.broker, queue_names(app, queues), older_than)
    finally:
        app.close()
    for task_id in done.republished:
        click.echo(printable(task_id))  # an id comes from a message: anyone's text
    click.echo(f"{len(done.republished)} lost task(s) published again", err=True)
    # Said every time: rows left out silently would read as "nothing was lost".
    young = f"{done.too_young} PENDING row(s) younger than {done.grace:g} s not judged"
    if done.too_young:
        young += "; run again or pass --older-than 0"
    click.echo(young, err=True)
    if done.unprovable:
        click.echo(
            f"{done.unprovable} PENDING row(s) not judged: the broker cannot tell whether it holds "
            "them (a queue with a message or a consumer)",
            err=True,
        )
