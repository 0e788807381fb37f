"""The ``arame`` command line: worker, scheduler, send, result, revoke, status, purge, results prune,
dead, retry, reconcile, workers, pause, resume, dashboard, demo.

Mistakes a user can make end with one line on stderr and exit code 1 (2 for bad usage);
only the command line configures logging.
"""

from __future__ import annotations

import traceback
from typing import Any

import click

from arame.cli import commands, dead, demo, queues, reading, recover, steer
from arame.cli.loading import TRACEBACK_KEY, refuse_undecodable, traceback_option
from arame.cli.options import GROUP_APP_OPTION, with_app_before
from arame.errors import ArameError


class _Group(click.Group):
    """Turns arame's own errors into one clear line instead of a traceback (unless --traceback)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        refuse_undecodable(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ArameError as exc:
            if ctx.meta.get(TRACEBACK_KEY):
                click.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)
            raise click.ClickException(str(exc)) from exc

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Celery's order, ``arame -A proj worker``: the app goes to the subcommand."""
        name, command, rest = super().resolve_command(ctx, args)
        app = ctx.params.get("group_app")
        if app is not None and name is not None and command is not None:
            rest = with_app_before(command, name, rest, app)
        return name, command, rest


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="arame")
@traceback_option
@GROUP_APP_OPTION
def cli(group_app: str | None) -> None:
    """arame: tasks, brokers, workers and a SQL results table, without Celery."""


for command in (
    commands.worker,
    commands.send,
    reading.result,
    reading.revoke,
    commands.scheduler,
    commands.results,
    reading.status,
    commands.purge,
    dead.dead,
    queues.queues,
    recover.retry,
    recover.reconcile,
    steer.workers,
    steer.pause,
    steer.resume,
    steer.dashboard,
    demo.demo,
):
    cli.add_command(command)


def main() -> None:
    """Entry point of the ``arame`` console script."""
    cli(prog_name="arame")
