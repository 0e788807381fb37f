"""``arame demo``: the whole pipeline on the embedded default, with no server."""

from __future__ import annotations

import hashlib
import time
import uuid

import click

from arame import states
from arame.app import App
from arame.results import AsyncResult

DEMO_QUEUE = "arame-demo"


def _demo_app() -> App:
    app = App("demo", default_queue=DEMO_QUEUE)

    @app.task(name="demo.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="demo.checksum")
    def checksum(text: str, rounds: int) -> str:
        digest = text.encode()
        for _ in range(rounds):
            digest = hashlib.sha256(digest).digest()
        return digest.hex()[:16]

    @app.task(name="demo.charge_card")
    def charge_card(order: int, cents: int) -> dict[str, int]:
        if cents <= 0:
            raise ValueError(f"order {order}: cannot charge {cents} cents")
        return {"order": order, "charged": cents}

    return app


@click.command()
@click.option(
    "-n",
    "--tasks",
    "count",
    type=click.IntRange(min=1),
    default=300,
    show_default=True,
    help="How many tasks to publish.",
)
@click.option(
    "-c", "--concurrency", type=click.IntRange(min=1), default=4, show_default=True, help="Worker threads."
)
def demo(count: int, concurrency: int) -> None:
    """Publish example tasks (a few fail on purpose), run them in a worker, show the outcome."""
    app = _demo_app()
    click.echo(f"broker  {app.broker.safe_url}\nresults {app.results.safe_url}")
    worker = app.worker([DEMO_QUEUE], concurrency, pool="thread")
    batch = uuid.uuid4().hex[:8]
    began = time.perf_counter()
    ids = [_publish_one(app, batch, i).id for i in range(count)]
    published = time.perf_counter() - began
    click.echo(f"published {count} tasks in {published:.2f}s ({count / published:,.0f}/s); starting a worker")
    worker.start()
    try:
        counts = _follow(app, ids)
    finally:
        worker.stop()
    elapsed = time.perf_counter() - began
    click.echo(f"\n{'state':<10}{'tasks':>7}")
    for state in (states.SUCCESS, states.FAILURE, states.PENDING, states.STARTED):
        if counts.get(state):
            click.echo(f"{state:<10}{counts[state]:>7}")
    click.echo(
        f"throughput  {count / elapsed:,.0f} tasks/s end to end (publish, run, record) "
        f"with {concurrency} threads"
    )
    failed = next((i for i in ids if app.AsyncResult(i).state == states.FAILURE), None)
    click.echo(f"database    {app.results.safe_url.removeprefix('sqlite:///')}")
    if failed:
        click.echo(f"a failure   arame result {failed}")
    app.close()


def _publish_one(app: App, batch: str, i: int) -> AsyncResult:
    task_id = f"demo-{batch}-{i:05d}"
    if i % 3 == 0:
        return app.tasks["demo.add"].apply_async((i, i), task_id=task_id)
    if i % 3 == 1:
        return app.tasks["demo.checksum"].apply_async((f"row {i}", 2000), task_id=task_id)
    cents = -i if i % 20 == 2 else i * 100  # every twentieth charge fails on purpose
    return app.tasks["demo.charge_card"].apply_async((i, cents), task_id=task_id)


def _follow(app: App, ids: list[str]) -> dict[str, int]:
    """Show a progress bar until every task is finished; return the count per state."""
    counts: dict[str, int] = {}
    with click.progressbar(length=len(ids), label="running", show_percent=True) as bar:
        done = 0
        while done < len(ids):
            counts = app.results.count_states(ids)
            finished = sum(counts.get(s, 0) for s in states.TERMINAL_STATES)
            bar.update(finished - done)
            done = finished
            time.sleep(0.05)
    return counts
