"""The ``arame`` command line: worker, send, result, status, purge, dead, retry, reconcile, demo.

Mistakes a user can make end with one line on stderr and exit code 1 (2 for bad usage);
only the command line configures logging.
"""

from __future__ import annotations

from typing import Any

import click

from arame.cli import commands, dead, demo, recovery
from arame.errors import ArameError


class _Group(click.Group):
    """Turns arame's own errors into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ArameError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="arame")
def cli() -> None:
    """arame: tasks, brokers, workers and a SQL results table, without Celery."""


for command in (
    commands.worker,
    commands.send,
    commands.result,
    commands.revoke,
    commands.scheduler,
    commands.results,
    commands.status,
    commands.purge,
    dead.dead,
    recovery.retry,
    recovery.reconcile,
    demo.demo,
):
    cli.add_command(command)


def main() -> None:
    """Entry point of the ``arame`` console script."""
    cli(prog_name="arame")
