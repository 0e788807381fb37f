"""Celery's task options, as ``@app.task(...)`` meets them in a ported module.

Each option Celery offers is either arame's own (passed through), a Celery spelling of an
arame option (translated), a value that means what arame always does (accepted silently), or
something arame does not do: then the declaration fails at import with what to do instead.
docs/from-celery.md lists them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from arame.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class _Rule:
    """A Celery option arame does not take: the values it accepts silently, and why not others."""

    accepts: Callable[[Any], bool]
    hint: str


def _never(_: Any) -> bool:
    return False


def _only(*values: Any) -> Callable[[Any], bool]:
    return lambda value: any(value is v or value == v for v in values)


_JSON_ONLY = (
    "arame speaks JSON only (datetime, date, time, Decimal and UUID round-trip as in Celery); drop it"
)
_NO_HOOKS = "arame has no task hooks: handle the error in the task, or read the row (state, error, traceback)"

#: Celery options that are not arame options.
RULES: dict[str, _Rule] = {
    "acks_late": _Rule(
        _only(True), "arame always acknowledges after the outcome is committed (that is acks_late); drop it"
    ),
    "acks_on_failure_or_timeout": _Rule(
        _only(True), "arame acknowledges a failed or timed-out task once its FAILURE is recorded; drop it"
    ),
    "reject_on_worker_lost": _Rule(
        _only(True), "a message whose worker died is always delivered again (up to max_deliveries); drop it"
    ),
    "track_started": _Rule(_only(True), "arame always records STARTED when a worker claims a task; drop it"),
    "typing": _Rule(_only(True), "arame always checks arguments against the signature when called; drop it"),
    "store_errors_even_if_ignored": _Rule(
        _only(True), "errors are always stored, with ignore_result=True too; drop it"
    ),
    "shared": _Rule(_only(True, False), ""),
    "lazy": _Rule(_only(True, False), ""),
    "trail": _Rule(_only(False), "arame does not track child tasks (result.children); drop it"),
    "send_events": _Rule(_only(False), "arame has no event stream: the results table records every state"),
    "serializer": _Rule(_only("json"), _JSON_ONLY),
    "result_serializer": _Rule(_only("json"), _JSON_ONLY),
    "compression": _Rule(_never, "arame does not compress messages; drop it"),
    "base": _Rule(
        _never,
        "custom Task classes are not supported: share behaviour through plain functions, and use "
        "autoretry_for=, max_retries=, retry_backoff= for retries",
    ),
    "throws": _Rule(_never, "every exception is recorded alike (type, message, traceback); drop it"),
    "expires": _Rule(_never, "give expires= to apply_async for each call"),
    "exchange": _Rule(_never, "arame routes by queue name: use queue="),
    "routing_key": _Rule(_never, "arame routes by queue name: use queue="),
    "backend": _Rule(_never, "results go to the App's results= database"),
    "pydantic": _Rule(_never, "arguments are checked against the signature, not converted; drop it"),
    "on_failure": _Rule(_never, _NO_HOOKS),
    "on_success": _Rule(_never, _NO_HOOKS),
    "on_retry": _Rule(_never, _NO_HOOKS),
    "after_return": _Rule(_never, _NO_HOOKS),
}

#: Why ``task.chunks`` (Celery's) is refused, and what does the same.
CHUNKS = (
    "task.chunks is Celery's; arame has no chunks: publish the calls at once with "
    "task.map(items) (one message each, one transaction), or arame.group(task.s(*a) for a in items)"
)

_RETRY_KWARGS = {"max_retries": "max_retries", "countdown": "retry_delay"}


def translate(task_name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Turn Celery's spellings into arame's options; refuse what arame does not do.

    Returns:
        The options, in arame's names, without those accepted silently.

    Raises:
        ConfigurationError: a Celery option or value arame does not support, naming the arame way.
    """
    if not options.keys() & (RULES.keys() | {"retry_kwargs", "default_retry_delay", "max_retries"}):
        return options  # the common case: arame's own options only
    translated: dict[str, Any] = {}
    for option, value in options.items():
        rule = RULES.get(option)
        if rule is None:
            translated.update(_renamed(task_name, option, value))
        elif not rule.accepts(value):
            raise ConfigurationError(
                f"task {task_name!r}: {option}={value!r} is a Celery option; {rule.hint}"
            )
    if "max_retries" in translated and translated["max_retries"] is None:
        raise ConfigurationError(
            f"task {task_name!r}: max_retries=None (retry forever) is not supported; give a number"
        )
    return translated


def _renamed(task_name: str, option: str, value: Any) -> dict[str, Any]:
    if option == "default_retry_delay":
        return {"retry_delay": value}
    if option != "retry_kwargs":
        return {option: value}
    unknown = set(value) - _RETRY_KWARGS.keys()
    if unknown:
        raise ConfigurationError(
            f"task {task_name!r}: retry_kwargs takes max_retries and countdown, "
            f"not {', '.join(sorted(unknown))}"
        )
    return {_RETRY_KWARGS[key]: given for key, given in value.items()}
