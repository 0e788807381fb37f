"""Checking a call's arguments against the task function's signature, before it is published."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

from arame.task_options import TaskOptions


class ArgumentChecks:
    """The signature checks of a task (``Task`` inherits them): a bad call fails in the caller."""

    name: str
    fn: Callable[..., Any]
    options: TaskOptions

    @functools.cached_property
    def signature(self) -> inspect.Signature:
        """The function's signature (without ``self`` when bound), to refuse arguments that do not fit."""
        signature = inspect.signature(self.fn)
        if self.options.bind:
            signature = signature.replace(parameters=list(signature.parameters.values())[1:])
        return signature

    def signature_or_none(self) -> inspect.Signature | None:
        """The function's signature, or ``None`` for a callable Python cannot inspect."""
        try:
            return self.signature
        except (TypeError, ValueError):  # a callable Python cannot inspect
            return None

    @functools.cached_property
    def _bind(self) -> Callable[..., inspect.BoundArguments] | None:
        # Cached: after the first call this is a plain attribute read on the publish path.
        try:
            return self.signature.bind
        except (TypeError, ValueError):  # a callable Python cannot inspect: nothing to check
            return None

    @functools.cached_property
    def _arity(self) -> tuple[int, float] | None:
        """The fewest and most positional arguments, when only those decide a fit (else ``None``)."""
        signature = self.signature_or_none()
        if signature is None:
            return None
        low, high = 0, 0.0
        for parameter in signature.parameters.values():
            if parameter.kind is parameter.VAR_POSITIONAL:
                high = math.inf
            elif parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
                low += parameter.default is parameter.empty
                high += 1
            elif parameter.kind is parameter.KEYWORD_ONLY and parameter.default is parameter.empty:
                return None  # a required keyword: only a full bind can tell
        return low, high

    def fits_by_count(self, args: Sequence[Any], kwargs: dict[str, Any] | None) -> bool:
        """Whether ``args`` alone (no keywords) surely fit: a check far cheaper than a bind.

        ``False`` says only that a full check is needed.
        """
        arity = self._arity
        return arity is not None and not kwargs and arity[0] <= len(args) <= arity[1]

    def check_arguments(self, args: Sequence[Any], kwargs: dict[str, Any] | None) -> None:
        """Refuse arguments the function would refuse, before anything is published.

        Raises:
            TypeError: missing, unexpected or repeated arguments, as a plain call would raise.
        """
        if self.fits_by_count(args, kwargs):
            return
        bind = self._bind
        if bind is None:
            return
        try:
            bind(*args, **(kwargs or {}))
        except TypeError as exc:
            raise TypeError(f"{self.name}{self.signature}: {exc}") from None
