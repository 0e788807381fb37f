"""What a reading command shows: the app's own part of a shared results database, or all of it.

A results database may hold the rows and workers of several services. ``arame status`` and
``arame workers`` show the app's queues (its tasks', its default queue, those it configures a
queue type for), their rows and the workers consuming them; ``--all`` shows everything.
"""

from __future__ import annotations

import click

from arame.app import App

ALL_OPTION = click.option(
    "--all",
    "every",
    is_flag=True,
    help="Every queue, row and worker of the results database, not only this app's.",
)


def only_read(app: App) -> App:
    """``app`` for a command that only reads: a missing results table is reported, not created."""
    app.results.creates_tables = False
    return app


def every_queue(app: App) -> list[str]:
    """Every queue the results database knows of: the rows', the paused ones, the workers'."""
    names = set(app.own_queues()) | app.results.queue_names() | set(app.workers.pauses.paused())
    return sorted(names | {queue for info in app.workers.list() for queue in info.queues})
