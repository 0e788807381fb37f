"""Options several commands share, defined once."""

from __future__ import annotations

import click

from arame.app import BROKER_ENV, RESULTS_ENV, App
from arame.cli.loading import APP_METAVAR

#: The subcommand option ``-A`` before the subcommand is handed to (``app_option``'s parameter).
_APP_PARAMETER = "app_flag"

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


GROUP_APP_OPTION = click.option(
    "-A",
    "--app",
    "group_app",
    metavar=APP_METAVAR,
    help="The app, given before the command as Celery has it (arame -A proj.tasks worker).",
)


def with_app_before(command: click.Command, name: str, args: list[str], app: str) -> list[str]:
    """``args`` of ``command`` with ``--app APP`` added, as if given after the command's name.

    ``arame -A X worker`` is ``arame worker -A X``; a group (``dead list``) passes it on to
    its subcommand.

    Raises:
        click.UsageError: the command reads no app, or the app was given again after it.
    """
    if isinstance(command, click.Group):
        if args and isinstance(sub := command.commands.get(args[0]), click.Command):
            return [args[0], *with_app_before(sub, f"{name} {args[0]}", args[1:], app)]
        return args  # no subcommand yet: the group prints its usage
    if not any(p.name == _APP_PARAMETER for p in command.params):
        raise click.UsageError(f"arame {name} reads no app: drop -A/--app")
    options = args[: args.index("--")] if "--" in args else args
    if any(_names_app(arg) for arg in options):
        raise click.UsageError(f"give the app once: arame -A {app} {name} ..., or after {name}, not both")
    return ["--app", app, *args]


def _names_app(arg: str) -> bool:
    """Whether ``arg`` gives the app: ``-A X``, ``-AX``, ``--app X`` or ``--app=X``."""
    return arg == "--app" or arg.startswith(("--app=", "-A"))
