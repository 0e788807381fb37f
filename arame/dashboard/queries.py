"""What the dashboard shows, gathered from the app's broker and results database as plain data."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from arame import App, states
from arame.coordination import WorkerInfo
from arame.results import ResultRow
from arame.results.browse import per_minute
from arame.results.outbox_rows import OutboxRows
from arame.transport import dead_sizes, delayed_sizes, in_flight_sizes, queue_sizes

CHART_WIDTH, CHART_HEIGHT = 600, 120


def own_queues(app: App, every: bool) -> list[str] | None:
    """The queues the view covers: the app's own (its default queue, its tasks', those given a
    queue type), or ``None`` with ``every`` (a results database shared by several apps)."""
    return None if every else app.own_queues()


def queue_names(app: App, every: bool = False) -> list[str]:
    """The app's queues; with ``every``, also every paused queue and every queue a live worker consumes."""
    own = own_queues(app, every)
    if own is not None:
        return own
    names = set(app.queues()) | set(app.workers.pauses.paused())
    names |= {queue for worker in app.workers.list() if not worker.lost for queue in worker.queues}
    return sorted(names)


def queues(app: App, every: bool = False) -> list[dict[str, Any]]:
    """Per queue: messages ready, delayed, in flight and dead (``None`` where the broker cannot
    tell), tasks committed but not yet published (the outbox), and since when it is paused
    (``None``: it is not)."""
    names = queue_names(app, every)
    ready, delayed = queue_sizes(app.broker, names), delayed_sizes(app.broker, names)
    in_flight, dead = in_flight_sizes(app.broker, names), dead_sizes(app.broker, names)
    paused = app.workers.pauses.paused(names)
    unpublished = OutboxRows(app.results).waiting(names)
    return [
        {
            "name": name,
            "ready": ready[name],
            "delayed": delayed[name],
            "in_flight": in_flight[name],
            "dead": dead[name],
            "unpublished": unpublished.get(name, 0),
            "paused_since": paused.get(name),
        }
        for name in names
    ]


def workers(app: App, every: bool = False) -> list[dict[str, Any]]:
    """The workers consuming the app's queues (``every``: all), alive or lost, with the ids of
    the tasks each runs."""
    return [_worker(info) for info in app.workers.list(own_queues(app, every))]


def _worker(info: WorkerInfo) -> dict[str, Any]:
    found = asdict(info)
    found["name"] = f"{info.host}:{info.pid}"
    return found


def overview(app: App, every: bool = False) -> dict[str, Any]:
    """The overview page's data: queues, rows per state, workers and the last hour per minute,
    of the app's queues (``every``: of the whole results database)."""
    found, own = workers(app, every), own_queues(app, every)
    return {
        "queues": queues(app, every),
        "states": app.results.counts(own),
        "workers": {"alive": sum(not w["lost"] for w in found), "lost": sum(w["lost"] for w in found)},
        "per_minute": per_minute(app.results, queues=own),
    }


def task(app: App, task_id: str) -> dict[str, Any] | None:
    """One task's page: its row, arguments, outcome or progress, and timings; ``None`` if unknown."""
    row = app.AsyncResult(task_id).row
    return None if row is None else _task(row)


def _task(row: ResultRow) -> dict[str, Any]:
    running = row.state not in states.TERMINAL_STATES
    runtime = None
    if row.started_at is not None and row.finished_at is not None:
        runtime = (row.finished_at - row.started_at).total_seconds()
    return {
        "id": row.id,
        "task_name": row.task_name,
        "queue": row.queue,
        "state": row.state,
        "args": list(row.args),
        "kwargs": row.kwargs,
        "result": row.result if row.state == states.SUCCESS else None,
        "progress": row.result if running else None,  # update_state's meta, while it runs
        "error_type": row.error_type,
        "error_message": row.error_message,
        "traceback": row.traceback,
        "attempts": row.attempts,
        "worker": row.worker,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "runtime": runtime,
        "has_message": row.message is not None,
        "trace_id": row.trace_id,  # of the span that sent it, when tracing is on
    }


def chart(points: list[dict[str, Any]]) -> dict[str, Any]:
    """SVG polylines for tasks and failures per minute, scaled to the busiest minute."""
    top = max([int(p["tasks"]) for p in points] + [1])
    step = CHART_WIDTH / max(len(points) - 1, 1)

    def line(key: str) -> str:
        return " ".join(
            f"{i * step:.1f},{CHART_HEIGHT - int(p[key]) * CHART_HEIGHT / top:.1f}"
            for i, p in enumerate(points)
        )

    return {
        "tasks": line("tasks"),
        "failures": line("failures"),
        "top": top,
        "w": CHART_WIDTH,
        "h": CHART_HEIGHT,
    }


def jsonable(value: Any) -> Any:
    """``value`` with datetimes as ISO 8601 text (UTC), for a JSON response."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def pretty(value: Any) -> str:
    """JSON for a person to read: indented, datetimes as text."""
    return json.dumps(jsonable(value), indent=2, sort_keys=True, default=repr)
