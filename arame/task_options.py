"""A task's options (declared with ``@app.task``); a publish's options are checked in publish_options.py.

``arame.task`` re-exports ``TaskOptions`` and ``task_options``, where they have always been imported from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from arame import states
from arame.errors import ConfigurationError
from arame.publish_options import check_priority, due_time, expiry_time

if TYPE_CHECKING:
    from arame.flow.keys import KeySpec

__all__ = ["TaskOptions", "check_custom_state", "check_priority", "due_time", "expiry_time", "task_options"]

MAX_STATE_LENGTH = 16  # the results table's state column


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """How a task is routed, retried and limited.

    Attributes:
        name: the name workers look the task up by.
        queue: its queue (default: the app's default queue).
        priority: 0 (lowest) .. 9 (highest).
        max_retries: attempts after the first one.
        retry_delay: seconds between attempts without backoff.
        retry_backoff: ``True`` doubles from 1 s; a number doubles from that many seconds.
        retry_backoff_max: the longest backoff, in seconds.
        retry_jitter: a random delay between 0 and the computed one.
        autoretry_for: exception types that retry the task instead of failing it.
        time_limit: seconds after which the task is stopped (hard).
        soft_time_limit: seconds after which ``SoftTimeLimitExceeded`` is raised inside it.
        rate_limit: at most this many starts, across every worker: ``"100/s"``, ``"20/m"``, ``"5/h"``.
        concurrency_limit: at most this many running at once across every worker (per key value).
        concurrency_key: the argument (its name, or a callable of the arguments) whose value
            each ``concurrency_limit`` applies to, e.g. ``"tenant_id"``.
        fair_key: the argument (its name, or a callable of the arguments) whose values share
            the queue fairly: each value gets a sub-queue, and workers take from them in turn.
        atomic: run in a transaction on the results database that also commits the task's
            SUCCESS row (``arame.connection()`` inside it), so its writes happen exactly once.
    """

    name: str
    queue: str | None = None
    priority: int | None = None
    max_retries: int = 3
    retry_delay: float = 1.0
    retry_backoff: bool | float = False
    retry_backoff_max: float = 600.0
    retry_jitter: bool = True
    autoretry_for: tuple[type[BaseException], ...] = field(default_factory=tuple)
    time_limit: float | None = None
    soft_time_limit: float | None = None
    bind: bool = False
    ignore_result: bool = False
    # Read by the flow-control extensions, which check them as the task is declared
    # (arame.flow.option_checks, arame.flow.fair_shares; docs/flow-control.md).
    rate_limit: str | float | None = None
    concurrency_limit: int | None = None
    concurrency_key: KeySpec | None = None
    fair_key: KeySpec | None = None
    atomic: bool = False

    def __post_init__(self) -> None:
        check_priority(self.priority)
        if self.max_retries < 0:
            raise ConfigurationError(f"task {self.name!r}: max_retries must be >= 0")
        for limit in (self.time_limit, self.soft_time_limit):
            if limit is not None and limit <= 0:
                raise ConfigurationError(f"task {self.name!r}: time limits must be positive")


def task_options(name: str, options: dict[str, Any]) -> TaskOptions:
    """Build a task's options from ``@app.task(...)`` keywords.

    Raises:
        ConfigurationError: an option no task has (the message lists the valid ones) or an
            invalid value.
    """
    valid = [option.name for option in fields(TaskOptions)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigurationError(
            f"task {name!r}: unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"valid options: {', '.join(valid)}"
        )
    try:
        return TaskOptions(name=name, **options)
    except TypeError as exc:
        raise ConfigurationError(f"task {name!r}: {exc}") from exc


def check_custom_state(state: str | None) -> None:
    """Refuse a state ``update_state`` may not write: the outcome's own, or one too long to store."""
    if not state or state in states.TERMINAL_STATES or state in {states.PENDING, states.UNKNOWN}:
        raise ConfigurationError(
            f"update_state(state={state!r}): give a state of progress such as 'PROGRESS'; "
            "PENDING, SUCCESS, FAILURE and REVOKED are written by arame itself"
        )
    if len(state) > MAX_STATE_LENGTH:
        raise ConfigurationError(f"update_state: a state has at most {MAX_STATE_LENGTH} characters")
