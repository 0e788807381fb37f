"""The features every App runs, each an Extension from its own package (see arame.extensions).

The one place the core's composition meets the feature packages: the App asks here for its
extensions, a worker for its own, and nothing below the App imports a feature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arame.canvas.extension import Workflows
from arame.extensions import Extension
from arame.flow.fair_shares import FairShares
from arame.flow.fair_steering import FairFollowing
from arame.flow.limits_gate import FlowLimits
from arame.flow.option_checks import LimitOptions
from arame.registry import WorkerRegistry
from arame.tracing import Tracing

if TYPE_CHECKING:
    from arame.app import App


def default_extensions(app: App) -> list[Extension]:
    """The built-in features' extensions for ``app``, in the order their hooks nest."""
    return [
        LimitOptions(),
        FairShares(app),  # first: the other hooks see the message in its sub-queue
        Tracing(),
        WorkerRegistry(app),  # before FairFollowing: its steering (the pauses) applies first
        FairFollowing(app),
        FlowLimits(app),
        Workflows(),
    ]


def worker_extensions(metrics_port: int | None, metrics_host: str) -> list[Extension]:
    """What one worker runs beside its App's extensions: its metrics endpoint, if asked for."""
    if metrics_port is None:
        return []
    from arame.metrics.worker_metrics import WorkerMetrics  # only then: prometheus_client is optional

    return [WorkerMetrics(metrics_port, metrics_host)]
