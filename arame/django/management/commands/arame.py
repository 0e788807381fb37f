"""``python manage.py arame <command> ...``: any ``arame`` command, with the project's App."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from arame.django.config import project

APP_SPEC = "arame.django:app"
_DJANGO_OPTIONS = ("--settings", "--pythonpath")


class Command(BaseCommand):
    help = "Run an arame command (worker, send, result, status, ...) with this project's App."
    requires_system_checks: list[str] = []  # noqa: RUF012 - Django's own declaration

    def run_from_argv(self, argv: list[str]) -> None:
        """Hand everything after ``arame`` to arame's command line, untouched by argparse."""
        sys.exit(run(_without_django_options(argv[2:])))

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("arame_args", nargs="*")

    def handle(self, *args: Any, **options: Any) -> None:
        """For ``call_command("arame", "status")``."""
        code = run(list(args) + list(options.get("arame_args") or []))
        if code:
            raise CommandError(f"arame exited with code {code}", returncode=code)


def run(argv: Sequence[str]) -> int:
    """Run ``arame ARGV`` with the project's App; return the exit code."""
    from arame.cli import cli

    app = project.app
    connections.close_all()  # a worker forks: children must not share the parent's connections
    args = _with_app_argument(cli, list(argv))
    with _environment(ARAME_APP=APP_SPEC, ARAME_BROKER_URL=app.broker_url, ARAME_RESULTS_URL=app.results_url):
        try:
            cli.main(args=args, prog_name="manage.py arame", standalone_mode=False)
        except click.exceptions.Exit as exc:
            return exc.exit_code
        except click.ClickException as exc:
            exc.show()
            return exc.exit_code
        except click.Abort:
            click.echo("Aborted!", err=True)
            return 1
    return 0


def _with_app_argument(group: click.Command, argv: list[str]) -> list[str]:
    """Insert the App where a command still takes it positionally (``MODULE[:ATTR]``)."""
    index = 0
    command = group
    while isinstance(command, click.Group) and index < len(argv):
        sub = command.commands.get(argv[index])
        if sub is None:
            return argv
        command, index = sub, index + 1
    takes_module = any(isinstance(p, click.Argument) and p.name == "app_spec" for p in command.params)
    return [*argv[:index], APP_SPEC, *argv[index:]] if takes_module else argv


def _without_django_options(argv: list[str]) -> list[str]:
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _DJANGO_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(f"{option}=" for option in _DJANGO_OPTIONS)):
            kept.append(arg)
    return kept


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
