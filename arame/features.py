"""The features every App runs, each an Extension from its own package (see arame.extensions).

The one place the core's composition meets the feature packages: the App asks here for its
extensions, and nothing below the App imports a feature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arame.extensions import Extension
from arame.tracing import Tracing

if TYPE_CHECKING:
    from arame.app import App


def default_extensions(app: App) -> list[Extension]:
    """The built-in features' extensions for ``app``, in the order their hooks nest."""
    return [Tracing()]
