"""``arame queues``: operations on the broker's queues themselves."""

from __future__ import annotations

import click

from arame.cli.options import BROKER_OPTION
from arame.errors import ConfigurationError
from arame.transport import parse_broker_url
from arame.transport.queue_retyping import migrate_queue


@click.group()
def queues() -> None:
    """The broker's queues (RabbitMQ queue types)."""


@queues.command()
@click.argument("names", nargs=-1, required=True, metavar="QUEUE...")
@click.option("--to", "to", type=click.Choice(["quorum", "classic"]), required=True, help="The new type.")
@BROKER_OPTION
def migrate(names: tuple[str, ...], to: str, broker: str | None) -> None:
    """Move RabbitMQ queues and their messages to another type, under the same names.

    Stop the workers and producers of these queues first; then set the app's queue_type (or
    queue_types) to the new type. Nothing is lost if it stops midway: run it again.
    """
    if not broker:
        raise ConfigurationError("no broker: give --broker or set ARAME_BROKER_URL")
    spec = parse_broker_url(broker)
    for name in names:
        moved = migrate_queue(spec, name, to)
        click.echo(f"{name}: a {to} queue now, {moved} message(s) moved")
