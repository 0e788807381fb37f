"""Checks of the flow-control options of ``@app.task``, at declaration (``on_declare``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arame.errors import ConfigurationError
from arame.extensions import Extension
from arame.flow.keys import KeySpec, check_key_spec
from arame.flow.rates import parse_rate

if TYPE_CHECKING:
    from arame.task import Task


class LimitOptions(Extension):
    """Refuses, as a task is declared, a ``rate_limit``, ``concurrency_limit`` or
    ``concurrency_key`` the limits could not apply (the consumers' gate applies them)."""

    def on_declare(self, task: Task[Any, Any]) -> None:
        options = task.options
        check_flow_options(task.name, options.rate_limit, options.concurrency_limit, options.concurrency_key)
        check_key_spec(task.name, options.concurrency_key, task.signature_or_none())


def check_flow_options(
    task_name: str, rate_limit: str | float | None, concurrency_limit: int | None, key: KeySpec | None
) -> None:
    """Refuse a rate that does not parse, a limit under 1, or a key without a limit.

    Raises:
        ConfigurationError: one of these, naming the task.
    """
    if rate_limit is not None:
        try:
            parse_rate(rate_limit)
        except ConfigurationError as exc:
            raise ConfigurationError(f"task {task_name!r}: {exc}") from exc
    if concurrency_limit is not None and (
        isinstance(concurrency_limit, bool) or not isinstance(concurrency_limit, int) or concurrency_limit < 1
    ):
        raise ConfigurationError(
            f"task {task_name!r}: concurrency_limit must be a whole number >= 1, not {concurrency_limit!r}"
        )
    if key is not None and concurrency_limit is None:
        raise ConfigurationError(
            f"task {task_name!r}: concurrency_key needs concurrency_limit (how many may run per key value)"
        )
    if key is not None and not (callable(key) or isinstance(key, str)):
        raise ConfigurationError(
            f"task {task_name!r}: concurrency_key names an argument or is a callable of the arguments"
        )


def check_fair_key(task_name: str, key: KeySpec | None) -> None:
    """Refuse a ``fair_key`` that is neither an argument's name nor a callable.

    Raises:
        ConfigurationError: naming the task.
    """
    if key is not None and not (callable(key) or (isinstance(key, str) and key)):
        raise ConfigurationError(
            f"task {task_name!r}: fair_key names an argument or is a callable of the arguments, not {key!r}"
        )
