"""The actions a dashboard user can take, each a POST: retry, revoke, pause, resume, dead letters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from arame import App, ArameError, ResultStoreError, TransportError
from arame.transport import dead_letter_queue, purge_queues

#: How a form or a JSON body may spell a flag (JSON's true and false arrive as "True", "False").
YES, NO = frozenset({"1", "true", "on", "yes"}), frozenset({"", "0", "false", "off", "no"})


class ActionFailed(Exception):
    """An action that could not be done, with the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def retry(app: App, task_id: str, _form: dict[str, str]) -> dict[str, Any]:
    """Run a FAILURE or REVOKED task again from its row."""
    _doing(lambda: app.retry(task_id))
    return {"id": task_id, "state": "PENDING"}


def revoke(app: App, task_id: str, form: dict[str, str]) -> dict[str, Any]:
    """Revoke a task not yet started; with ``terminate``, stop a running one too."""
    terminate = _flag(form.get("terminate", ""), "terminate")
    handle = app.AsyncResult(task_id)
    if not _doing(lambda: handle.revoke(terminate=terminate)):
        raise ActionFailed(409, f"{task_id} was not revoked: it is {handle.state}")
    return {"id": task_id, "state": "REVOKED", "terminate": terminate}


def pause(app: App, queue: str, _form: dict[str, str]) -> dict[str, Any]:
    """Pause a queue: workers stop taking its messages within about a second."""
    _doing(lambda: app.workers.pauses.pause(queue))
    return {"queue": queue, "paused": True}


def resume(app: App, queue: str, _form: dict[str, str]) -> dict[str, Any]:
    """Resume a paused queue."""
    _doing(lambda: app.workers.pauses.resume(queue))
    return {"queue": queue, "paused": False}


def requeue_dead(app: App, queue: str, _form: dict[str, str]) -> dict[str, Any]:
    """Publish a queue's dead letters back, their rows PENDING again."""
    return {"queue": queue, "requeued": _doing(lambda: app.requeue_dead(queue))}


def purge_dead(app: App, queue: str, _form: dict[str, str]) -> dict[str, Any]:
    """Delete a queue's dead letters."""
    dead = dead_letter_queue(queue)
    return {"queue": queue, "purged": _doing(lambda: purge_queues(app.broker, [dead]))[dead]}


Action = Callable[[App, str, dict[str, str]], dict[str, Any]]

#: Actions on a task, by the last segment of their URL.
TASK_ACTIONS: dict[str, Action] = {"retry": retry, "revoke": revoke}
#: Actions on a queue, by the last segment(s) of their URL.
QUEUE_ACTIONS: dict[str, Action] = {
    "pause": pause,
    "resume": resume,
    "dead/requeue": requeue_dead,
    "dead/purge": purge_dead,
}


def _flag(text: str, name: str) -> bool:
    value = text.strip().lower()
    if value not in YES | NO:
        raise ActionFailed(400, f"{name} must be true or false, not {text!r}")
    return value in YES


def _doing(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except (TransportError, ResultStoreError) as exc:
        raise ActionFailed(503, str(exc)) from exc
    except ArameError as exc:
        raise ActionFailed(409, str(exc)) from exc
