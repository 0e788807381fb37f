"""Signatures and the workflows made of them: ``chain``, ``group`` and ``chord``.

A signature names a task and its arguments without publishing it. Applying a workflow gives
every task in it an id first, so the handle returned is known before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from arame.errors import ConfigurationError
from arame.message import new_task_id
from arame.publish_options import check_priority, due_time, expiry_time

#: The options a signature takes: ``Task.apply_async``'s, but for ``link`` / ``link_error``
#: (``Signature.link``) and deduplication (a workflow's tasks are published by the workflow).
OPTIONS = frozenset({"queue", "countdown", "eta", "expires", "priority", "task_id"})
#: ``Task.apply_async`` options a signature does not take, and why.
_NOT_OPTIONS = {
    "link": "use signature.link(callback)",
    "link_error": "use signature.link_error(errback)",
    "dedup_key": "deduplication is not offered inside workflows",
    "dedup_for": "deduplication is not offered inside workflows",
}


class Canvas:
    """What every workflow piece can do: compose with ``|`` and publish."""

    def __or__(self, other: Canvas) -> Chain:
        return Chain(self, other)

    def delay(self, *args: Any, **kwargs: Any) -> Any:
        """Publish with these partial arguments (prepended to the first tasks' own)."""
        return self.apply_async(args, kwargs)

    def apply_async(
        self, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None, **options: Any
    ) -> Any:
        """Publish the workflow; return a handle (``AsyncResult`` or ``GroupResult``) on its outcome.

        Raises:
            ConfigurationError: no task of it is bound to an app, or an unknown option.
            PublishError: the broker did not store the first tasks; nothing was published.
        """
        app = self.bound_app()
        if app is None:
            raise ConfigurationError(f"{self!r} is bound to no app: build it from a task (task.s(...))")
        _check(options)
        return app.send_canvas(self.prepared(tuple(args), dict(kwargs or {}), options))

    def bound_app(self) -> Any:
        """The app of the first task that has one, or ``None``."""
        raise NotImplementedError

    def prepared(self, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]) -> Canvas:
        """A copy: partial arguments and options applied to its first tasks, every task given an id."""
        raise NotImplementedError


class Signature(Canvas):
    """One task call, not yet published: ``add.s(2, 2)``; ``add.si(2, 2)`` ignores upstream results.

    Args:
        task: the task's registered name.
        args: positional arguments (an upstream result is prepended unless ``immutable``).
        kwargs: keyword arguments.
        app: the app that publishes it.
        immutable: never receive an upstream result.
        options: ``queue``, ``countdown``, ``eta``, ``expires``, ``priority``, ``task_id``, as
            ``Task.apply_async`` takes them (``countdown`` and a relative ``expires`` count from
            the moment the step is published: for a step that waits, once what it waits on
            finished).
    """

    def __init__(
        self,
        task: str,
        args: Iterable[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        app: Any = None,
        immutable: bool = False,
        **options: Any,
    ) -> None:
        _check(options)
        _check_values(options)
        self.task = task
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.app = app
        self.immutable = immutable
        self.options: dict[str, Any] = options
        self.callbacks: list[Canvas] = []
        self.errbacks: list[Canvas] = []

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.task}{'.si' if self.immutable else '.s'}({', '.join(parts)})"

    @property
    def id(self) -> str | None:
        """The task id it will be published with, once applied or set."""
        return self.options.get("task_id")

    def set(self, **options: Any) -> Signature:
        """Set ``queue``, ``countdown``, ``eta``, ``expires``, ``priority`` or ``task_id``; returns itself.

        Raises:
            ConfigurationError: an unknown option or an invalid value (nothing is changed).
        """
        _check(options)
        _check_values({**self.options, **options})
        self.options.update(options)
        return self

    def link(self, callback: Canvas) -> Canvas:
        """Run ``callback`` with this task's result once it succeeds."""
        self.callbacks.append(callback)
        return callback

    def link_error(self, errback: Canvas) -> Canvas:
        """Run ``errback`` with this task's id (first argument) if it fails."""
        self.errbacks.append(errback)
        return errback

    def clone(self) -> Signature:
        """A copy (callbacks copied too) that can be changed without touching this one."""
        copy = Signature(
            self.task, self.args, self.kwargs, app=self.app, immutable=self.immutable, **self.options
        )
        copy.callbacks = [_copy(c) for c in self.callbacks]
        copy.errbacks = [_copy(e) for e in self.errbacks]
        return copy

    def bound_app(self) -> Any:
        return self.app

    def prepared(self, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]) -> Signature:
        copy = self.clone()
        if not self.immutable:  # Celery: an immutable signature ignores partial arguments
            copy.args = args + copy.args
            copy.kwargs = {**copy.kwargs, **kwargs}
        copy.options.update(options)
        _check_values(copy.options)
        copy.options.setdefault("task_id", new_task_id())
        copy.callbacks = [c.prepared((), {}, {}) for c in copy.callbacks]
        copy.errbacks = [e.prepared((), {}, {}) for e in copy.errbacks]
        return copy


class Chain(Canvas):
    """Tasks run one after another, each result passed to the next as its first argument."""

    def __init__(self, *tasks: Canvas) -> None:
        flat: list[Canvas] = []
        for task in tasks:
            flat += list(task.tasks) if isinstance(task, Chain) else [task]
        if not flat:
            raise ConfigurationError("a chain needs at least one task")
        self.tasks: list[Canvas] = flat

    def __repr__(self) -> str:
        return " | ".join(repr(t) for t in self.tasks)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Celery's ``chain(...)()``: publish it, as ``delay`` does."""
        return self.delay(*args, **kwargs)

    def bound_app(self) -> Any:
        return _first_app(self.tasks)

    def prepared(self, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]) -> Chain:
        first = self.tasks[0].prepared(args, kwargs, options)
        return Chain(first, *(t.prepared((), {}, {}) for t in self.tasks[1:]))


class Group(Canvas):
    """Tasks run in parallel; applied, it returns a ``GroupResult``."""

    def __init__(self, *tasks: Canvas | Iterable[Canvas], group_id: str | None = None) -> None:
        if len(tasks) == 1 and not isinstance(tasks[0], Canvas):
            tasks = tuple(tasks[0])  # Celery's group([a, b]) as well as group(a, b)
        self.tasks: list[Canvas] = [t for t in tasks if isinstance(t, Canvas)]
        if len(self.tasks) != len(tasks):
            raise ConfigurationError("a group holds signatures (task.s(...)) and other workflows only")
        self.id = group_id

    def __repr__(self) -> str:
        return f"group({', '.join(repr(t) for t in self.tasks)})"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Celery's ``group(...)()``: publish it, as ``delay`` does."""
        return self.delay(*args, **kwargs)

    def bound_app(self) -> Any:
        return _first_app(self.tasks)

    def prepared(self, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]) -> Group:
        group_id = options.pop("task_id", None) or self.id or new_task_id()
        return Group(*(t.prepared(args, kwargs, dict(options)) for t in self.tasks), group_id=group_id)


class Chord(Canvas):
    """A group whose results, as a list in the group's order, are passed to ``body`` once all succeeded."""

    def __init__(self, header: Group | Iterable[Canvas], body: Canvas | None = None) -> None:
        self.header = header if isinstance(header, Group) else Group(list(header))
        self.body = body

    def __repr__(self) -> str:
        return f"chord({self.header!r}, {self.body!r})"

    def __call__(self, body: Canvas | None = None, **options: Any) -> Any:
        """Celery's ``chord(header)(body)``: publish with ``body``."""
        return Chord(self.header, body or self.body).apply_async(**options)

    def bound_app(self) -> Any:
        return _first_app([*self.header.tasks, *([self.body] if self.body else [])])

    def prepared(self, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]) -> Chord:
        if self.body is None:
            raise ConfigurationError("a chord needs a body: chord(group, body)")
        body_options = {"task_id": options.pop("task_id")} if "task_id" in options else {}
        return Chord(self.header.prepared(args, kwargs, options), self.body.prepared((), {}, body_options))


def linked(
    task: Any,
    args: Iterable[Any],
    kwargs: dict[str, Any] | None,
    link: Canvas | None,
    errback: Canvas | None,
    **options: Any,
) -> Any:
    """``task.apply_async(..., link=..., link_error=...)``: the call as a workflow with callbacks.

    Raises:
        ConfigurationError: an option a workflow does not take (``dedup_key``), or an invalid value.
    """
    signature = Signature(task.name, args, kwargs, app=task.app)
    if link is not None:
        signature.link(link)
    if errback is not None:
        signature.link_error(errback)
    return signature.apply_async(**{key: value for key, value in options.items() if value is not None})


def _first_app(tasks: Iterable[Canvas]) -> Any:
    return next((app for app in (t.bound_app() for t in tasks) if app is not None), None)


def _copy(canvas: Canvas) -> Canvas:
    return canvas.clone() if isinstance(canvas, Signature) else canvas


def _check(options: dict[str, Any]) -> None:
    for name in sorted(set(options) & set(_NOT_OPTIONS)):
        raise ConfigurationError(f"a signature does not take {name}=: {_NOT_OPTIONS[name]}")
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"unknown signature option(s) {', '.join(unknown)}; valid: {', '.join(sorted(OPTIONS))}"
        )


def _check_values(options: dict[str, Any]) -> None:
    """Refuse what ``Task.apply_async`` refuses: a naive datetime, countdown with eta, a bad priority."""
    check_priority(options.get("priority"))
    due_time(options.get("countdown"), options.get("eta"))
    expiry_time(options.get("expires"))
