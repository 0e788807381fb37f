"""``arame workers``, ``arame pause`` and ``arame resume``: see and steer running workers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from arame.app import App
from arame.cli.loading import app_option, open_app, require_results_database
from arame.cli.options import BROKER_OPTION, RESULTS_OPTION
from arame.cli.printing import printable
from arame.cli.scope import ALL_OPTION, only_read


def _steering_app(app_spec: str, results: str | None) -> App:
    app = open_app(app_spec, results=results)
    require_results_database(app)
    return app


@click.command()
@app_option()
@ALL_OPTION
@RESULTS_OPTION
def workers(app_spec: str, every: bool, results: str | None) -> None:
    """List the workers consuming the app's queues (``--all``: every worker), alive or lost,
    with the task ids each runs now."""
    app = only_read(_steering_app(app_spec, results))
    found = app.workers.list(None if every else app.own_queues())
    now = datetime.now(UTC)
    for info in found:
        status = "LOST" if info.lost else "alive"
        # Written by the workers into a shared table: printed with control characters escaped.
        click.echo(
            f"{printable(info.host)}:{info.pid}  {status}  pool={printable(info.pool)} "
            f"concurrency={info.concurrency} queues={printable(','.join(info.queues))} "
            f"version={printable(info.version)} started={info.started_at.isoformat(timespec='seconds')} "
            f"beat={(now - info.heartbeat_at).total_seconds():.0f}s ago"
        )
        for task_id in info.running:
            click.echo(f"    running {printable(task_id)}")
    scope = "" if every else " (consuming this app's queues; --all: every worker)"
    click.echo(f"{sum(not i.lost for i in found)} alive, {sum(i.lost for i in found)} lost{scope}", err=True)


@click.command()
@app_option()
@click.argument("queue")
@RESULTS_OPTION
def pause(app_spec: str, queue: str, results: str | None) -> None:
    """Stop workers taking messages from QUEUE (within a second); publishing goes on."""
    newly = _steering_app(app_spec, results).workers.pauses.pause(queue)
    click.echo(f"{queue}: paused" + ("" if newly else " (it already was)"))


@click.command()
@app_option()
@click.argument("queue")
@RESULTS_OPTION
def resume(app_spec: str, queue: str, results: str | None) -> None:
    """Let workers take messages from QUEUE again."""
    was_paused = _steering_app(app_spec, results).workers.pauses.resume(queue)
    click.echo(f"{queue}: resumed" + ("" if was_paused else " (it was not paused)"))


@click.command()
@app_option()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8700, show_default=True, type=click.IntRange(1, 65535), help="Port.")
@click.option(
    "--token",
    envvar="ARAME_DASHBOARD_TOKEN",
    help="Secret every request must carry; required off loopback [env ARAME_DASHBOARD_TOKEN]. "
    "On the command line others see it in ps: prefer --token-file or the variable.",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the token from this file (its first line).",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    envvar="ARAME_DASHBOARD_ALLOWED_HOSTS",
    help="A name the dashboard may be reached by besides its address and localhost (repeat it; "
    "'*' for any) [env ARAME_DASHBOARD_ALLOWED_HOSTS, space-separated].",
)
@BROKER_OPTION
@RESULTS_OPTION
def dashboard(
    app_spec: str,
    host: str,
    port: int,
    token: str | None,
    token_file: Path | None,
    allowed_hosts: tuple[str, ...],
    broker: str | None,
    results: str | None,
) -> None:
    """Serve the dashboard: queues, tasks, workers, and actions on them."""
    try:
        from arame.dashboard.server import refuse_exposure, server
    except ImportError as exc:
        raise click.ClickException(
            f"the dashboard needs its extra: pip install 'arame[dashboard]' ({exc})"
        ) from exc
    if token_file is not None:
        token = _read_token(token_file, given=token)
    refuse_exposure(host, token)  # before anything else, and before it says it is on
    app = open_app(app_spec, broker=broker, results=results)
    require_results_database(app)
    web = server(app, host, port, token, allowed_hosts)
    click.echo(
        f"arame dashboard on http://{host}:{port}/ (token {'required' if token else 'not set'})", err=True
    )
    web.run()


def _read_token(path: Path, given: str | None) -> str:
    source = click.get_current_context().get_parameter_source("token")
    if given and source == click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("give the token once: --token or --token-file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read the token file {path}: {exc}") from exc
    token = lines[0].strip() if lines else ""
    if not token:
        raise click.ClickException(f"the token file {path} is empty")
    return token
