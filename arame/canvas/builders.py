"""The workflow names of the public face, bound to the current app where a name is given."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from arame.canvas.nodes import Canvas, Chain, Chord, Group, Signature
from arame.current import registry


def signature(
    name: str,
    args: Iterable[Any] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    app: Any = None,
    **options: Any,
) -> Signature:
    """A signature of the task ``name`` (Celery's ``signature``), bound to ``app`` or the current app.

    Raises:
        ConfigurationError: no app exists yet, or an unknown option.
    """
    return Signature(name, args, kwargs, app=app or registry.current_app(), **options)


def chain(*tasks: Canvas) -> Chain:
    """Tasks run one after another; each result is the next one's first argument."""
    return Chain(*tasks)


def group(*tasks: Canvas | Iterable[Canvas]) -> Group:
    """Tasks run in parallel; applied, it returns a ``GroupResult``."""
    return Group(*tasks)


def chord(header: Group | Iterable[Canvas], body: Canvas | None = None) -> Chord:
    """``body`` runs once, with the list of the header's results, after all of them succeeded."""
    return Chord(header, body)
