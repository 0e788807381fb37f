"""Concurrency keys: which share of a limit a call belongs to (a tenant, a customer, a host)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from arame.errors import ConfigurationError

#: How ``concurrency_key`` is given: the name of an argument, or a callable of the arguments.
KeySpec = str | Callable[..., Any]


def check_key_spec(
    task_name: str, spec: KeySpec | None, signature: inspect.Signature | None, option: str = "concurrency_key"
) -> None:
    """Refuse a key naming an argument the function does not have.

    Raises:
        ConfigurationError: the named argument is not a parameter of the function.
    """
    if spec is None or callable(spec) or signature is None:
        return
    params = signature.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if spec not in params and not takes_any:
        raise ConfigurationError(f"task {task_name!r}: {option}={spec!r} names no argument of {signature}")


def concurrency_key_of(
    spec: KeySpec | None,
    signature: inspect.Signature | None,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
) -> str:
    """The key value of one call, as text (``""`` without a key: the task's limit is one share).

    A named argument is looked up as the call binds it (positional or keyword, or its default);
    a callable gets the call's arguments. A call the key cannot read falls in the share ``""``.
    """
    if spec is None:
        return ""
    if callable(spec):
        try:
            return str(spec(*args, **kwargs))
        except Exception:  # noqa: BLE001 - a key that cannot be computed must not lose the task
            return ""
    if spec in kwargs:
        return str(kwargs[spec])
    if signature is None:
        return ""
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError:
        return ""
    bound.apply_defaults()
    return str(bound.arguments.get(spec, ""))


@dataclass(frozen=True, slots=True)
class SlotRequest:
    """One task asking for a slot under its concurrency limit.

    Attributes:
        task_id: the task.
        task_name: its name.
        key: its key value (``""`` when the limit is for the whole task).
        limit: at most this many running per key value.
        ttl: seconds after which the slot is freed even if its task still reads STARTED
            (a worker that died and whose message never came back).
        spacing: seconds between the waiting tasks of its key coming back (its run time / limit).
    """

    task_id: str
    task_name: str
    key: str
    limit: int
    ttl: float
    spacing: float = 0.1
