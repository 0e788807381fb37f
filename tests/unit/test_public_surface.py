"""The public face of ``arame``: its names, and the error tree drawn in errors.py."""

from __future__ import annotations

import builtins
import inspect
import re

import pytest

import arame
from arame import errors

PUBLIC_NAMES = [
    "FAILURE",
    "PENDING",
    "RETRY",
    "REVOKED",
    "STARTED",
    "SUCCESS",
    "UNKNOWN",
    "App",
    "ArameError",
    "AsyncResult",
    "ConfigurationError",
    "Extension",
    "GroupResult",
    "MessageError",
    "PublishError",
    "Request",
    "ResultStoreError",
    "Retry",
    "Signature",
    "SoftTimeLimitExceeded",
    "Task",
    "TaskFailed",
    "TaskNotRegistered",
    "TimeLimitExceeded",
    "TimeoutError",
    "TransportError",
    "chain",
    "chord",
    "connection",
    "group",
    "shared_task",
    "signature",
]


def _error_tree() -> list[tuple[str, str | None]]:
    """(class, parent) for every class drawn in the errors module docstring."""
    doc = errors.__doc__ or ""
    drawn: list[tuple[int, str]] = []
    for line in doc.splitlines():
        if line.strip() == "ArameError":
            drawn.append((-1, "ArameError"))
            continue
        match = re.match(r"^(?P<indent>[\s│]*)[├└]── (?P<name>\w+)", line)
        if match:
            drawn.append((len(match["indent"]), match["name"]))
    tree: list[tuple[str, str | None]] = []
    for i, (depth, name) in enumerate(drawn):
        parent = next((n for d, n in reversed(drawn[:i]) if d < depth), None)
        tree.append((name, parent))
    return tree


def test_all_lists_exactly_the_public_names() -> None:
    assert arame.__all__ == PUBLIC_NAMES


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_every_public_name_is_importable_from_the_package(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from arame import {name}", namespace)
    assert namespace[name] is getattr(arame, name)


def test_the_state_constants_are_their_own_names() -> None:
    for state in ("PENDING", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED", "UNKNOWN"):
        assert getattr(arame, state) == state


def test_arame_timeout_error_is_also_the_builtin_timeout_error() -> None:
    assert issubclass(arame.TimeoutError, builtins.TimeoutError)
    assert issubclass(arame.TimeoutError, arame.ArameError)
    assert arame.TimeoutError is not builtins.TimeoutError


def test_the_error_tree_in_the_docstring_draws_every_error_class_under_arame_error() -> None:
    tree = _error_tree()
    assert tree[0] == ("ArameError", None)
    drawn = {name for name, _ in tree}
    defined = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, errors.ArameError)
    }
    assert drawn == defined


def test_each_class_in_the_error_tree_derives_from_the_parent_drawn_above_it() -> None:
    tree = _error_tree()
    assert len(tree) > 5
    for name, parent in tree[1:]:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.ArameError), name
        assert parent is not None
        assert issubclass(cls, getattr(errors, parent)), f"{name} should derive from {parent}"


def test_publish_error_is_drawn_under_transport_error() -> None:
    assert ("PublishError", "TransportError") in _error_tree()


def test_retry_is_not_an_arame_error() -> None:
    assert not issubclass(arame.Retry, arame.ArameError)


def test_task_failed_carries_the_remote_type_message_and_traceback() -> None:
    exc = arame.TaskFailed("abc", "ValueError", "boom", "Traceback ...")
    assert (exc.task_id, exc.remote_type, exc.remote_message, exc.remote_traceback) == (
        "abc",
        "ValueError",
        "boom",
        "Traceback ...",
    )
    assert str(exc) == "ValueError: boom"


def test_task_not_registered_names_the_task_and_the_known_ones() -> None:
    exc = arame.TaskNotRegistered("nope", ["a.add", "a.mul"])
    assert "'nope'" in str(exc)
    assert "a.add, a.mul" in str(exc)
    assert isinstance(exc, KeyError)
