"""Options several commands share, defined once."""

from __future__ import annotations

import click

from arame.app import BROKER_ENV, RESULTS_ENV, App

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


def queue_names(app: App, queues: str | None) -> list[str]:
    """The queues of ``-Q a,b``, or every queue of the app's tasks."""
    return [q.strip() for q in queues.split(",") if q.strip()] if queues else app.queues()
