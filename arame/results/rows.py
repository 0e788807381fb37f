"""Rows of the results table: ResultRow as read, and the values written for a message or outcome."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from arame import states
from arame.errors import MessageError
from arame.json_values import decode_json
from arame.message import TaskMessage
from arame.results.statements import OUTCOME_COLUMNS, READ
from arame.states import Outcome, Started

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One row of the results table, with the result decoded from JSON."""

    id: str
    task_name: str
    queue: str
    state: str
    result: Any
    error_type: str | None
    error_message: str | None
    traceback: str | None
    attempts: int
    worker: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    message: TaskMessage | None = None  # None for rows written before the column, or unreadable
    trace_id: str | None = None  # the trace it was sent in, when tracing was on
    claim: str | None = None  # the copy of the message that claimed it ("" the first publish)

    @property
    def ready(self) -> bool:
        """Whether the task has reached a state it will never leave."""
        return self.state in states.TERMINAL_STATES

    @property
    def args(self) -> tuple[Any, ...]:
        """The positional arguments it was published with (``()`` when the row has no message)."""
        return () if self.message is None else self.message.args

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments it was published with (``{}`` when the row has no message)."""
        return {} if self.message is None else dict(self.message.kwargs)


def claim_groups(starts: Sequence[Started]) -> list[list[Started]]:
    """``starts`` in groups that one claim statement takes: the same attempt and copy id."""
    groups: dict[tuple[int, str], list[Started]] = {}
    for start in starts:
        groups.setdefault((start.attempts, start.copy), []).append(start)
    return list(groups.values())


def claim_params(starts: Sequence[Started]) -> dict[str, Any]:
    """The parameters of a claim of ``starts``, one group of ``claim_groups``."""
    first = starts[0]
    return {
        "ids": [s.task_id for s in starts],
        "b_attempts": first.attempts,
        "b_attempt": first.attempts - 1,  # the attempts the message counts before this one
        "v_attempts": first.attempts,
        "v_worker": first.worker,
        "v_started_at": from_epoch(first.at),
        "b_claim": first.copy,
        "v_claim": first.copy,
    }


def pending_row(message: TaskMessage, body: str | None = None) -> dict[str, Any]:
    return {
        "id": message.id,
        "task_name": message.task,
        "queue": message.queue,
        "state": states.PENDING,
        "attempts": message.attempt,
        "created_at": from_epoch(message.created),
        # What a requeue, a retry or a reconcile publishes again (the caller's copy, if encoded).
        "message": message.to_body() if body is None else body,
        "trace_id": message.trace_id,
    }


def pending_json(messages: Sequence[TaskMessage], bodies: Sequence[str] | None = None) -> str:
    """The PENDING rows of ``messages`` as one JSON array (``INSERT_PENDING_MANY``'s parameter),
    their creation times as epoch seconds."""
    if bodies is None:
        bodies = [message.to_body() for message in messages]
    rows = [
        pending_row(message, body) | {"created_at": message.created}
        for message, body in zip(messages, bodies, strict=True)
    ]
    return json.dumps(rows)


def started_row(start: Started) -> dict[str, Any]:
    at = from_epoch(start.at)
    return {
        "id": start.task_id,
        "task_name": start.task_name,
        "queue": start.queue,
        "state": states.STARTED,
        "attempts": start.attempts,
        "worker": start.worker,
        "created_at": at,
        "started_at": at,
        "claim": start.copy,
    }


def outcome_params(outcome: Outcome) -> dict[str, Any]:
    values = outcome_values(outcome)
    params = {f"v_{name}": values[name] for name in OUTCOME_COLUMNS}
    params["b_id"] = outcome.task_id
    params["b_attempts"] = outcome.attempts
    return params


def outcome_row(outcome: Outcome) -> dict[str, Any]:
    values = outcome_values(outcome)
    return {"id": outcome.task_id, "created_at": values["finished_at"] or from_epoch(time.time()), **values}


def outcome_values(outcome: Outcome) -> dict[str, Any]:
    return {
        "task_name": outcome.task_name,
        "queue": outcome.queue,
        "state": outcome.state,
        "result": outcome.result_json,
        "error_type": outcome.error_type,
        "error_message": outcome.error_message,
        "traceback": outcome.traceback,
        "attempts": outcome.attempts,
        "worker": outcome.worker,
        "started_at": None if outcome.started_at is None else from_epoch(outcome.started_at),
        # A RETRY is not finished: the row keeps its error until the next attempt starts.
        "finished_at": None
        if outcome.state == states.RETRY
        else from_epoch(outcome.finished_at or time.time()),
    }


def read_on(conn: sa.Connection, task_id: str) -> ResultRow | None:
    found = conn.execute(READ, {"id": task_id}).first()
    return None if found is None else to_row(found._mapping)


def to_row(mapping: Any) -> ResultRow:
    data = dict(mapping)
    raw = data.pop("result")
    data["message"] = _message_of(data.get("message"))
    for key in ("created_at", "started_at", "finished_at"):
        if data[key] is not None and data[key].tzinfo is None:
            data[key] = data[key].replace(tzinfo=UTC)  # SQLite and MySQL hand back naive UTC
    return ResultRow(result=None if raw is None else decode_json(raw), **data)


def row_from_json(columns: dict[str, Any]) -> ResultRow:
    """A row as PostgreSQL's ``json_build_object`` wrote it (a notification's, without its message):
    the times as ISO 8601 text."""
    data = dict(columns, message=None)
    for key in ("created_at", "started_at", "finished_at"):
        if data[key] is not None:
            data[key] = datetime.fromisoformat(data[key])
    return to_row(data)


def _message_of(body: str | None) -> TaskMessage | None:
    if body is None:
        return None
    try:
        return TaskMessage.from_body(body)
    except MessageError:
        logger.warning("a results row holds a message that cannot be decoded; reading it as none")
        return None


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
