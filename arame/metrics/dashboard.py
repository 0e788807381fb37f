"""The dashboard's ``/metrics`` text: queue depths, workers alive and paused queues.

``render(app)`` reads the broker at each scrape (no state kept between scrapes). The worker count
and the paused queues live in tables the dashboard owns: it passes readers for them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from arame.errors import TransportError
from arame.transport import dead_sizes, delayed_sizes, in_flight_sizes, queue_sizes

if TYPE_CHECKING:
    from arame.app import App

#: What each ``kind`` of ``arame_queue_messages`` counts.
KINDS = ("ready", "delayed", "in_flight", "dead")


def render(
    app: App,
    *,
    workers: Callable[[], int] | None = None,
    paused: Callable[[], Collection[str]] | None = None,
    queues: Sequence[str] | None = None,
) -> tuple[bytes, str]:
    """The Prometheus text exposition of the app's queues, and its content type.

    Args:
        app: whose broker and queues to read.
        workers: returns how many workers are alive (``arame_workers``); left out when absent.
        paused: returns the names of paused queues (``arame_queue_paused``).
        queues: the queues to report; default: the app's queues, plus any paused one.

    A broker that does not answer reads ``arame_broker_up 0`` with no queue samples, so the
    scrape still succeeds and an alert can say why.
    """
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(app, workers, paused, queues))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Collector:
    """Reads everything once per scrape."""

    def __init__(
        self,
        app: App,
        workers: Callable[[], int] | None,
        paused: Callable[[], Collection[str]] | None,
        queues: Sequence[str] | None,
    ) -> None:
        self._app, self._workers, self._paused, self._queues = app, workers, paused, queues

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        paused = set(self._paused()) if self._paused is not None else set()
        names = sorted(set(self._queues or self._app.queues()) | paused)
        depths = GaugeMetricFamily(
            "arame_queue_messages",
            "Messages per queue: ready, delayed (eta/countdown), in_flight (held by a worker), dead.",
            labels=["queue", "kind"],
        )
        up = GaugeMetricFamily("arame_broker_up", "Whether the broker answered this scrape.")
        try:
            for kind, sizes in _sizes(self._app, names).items():
                for queue, size in sizes.items():
                    if size is not None:  # RabbitMQ cannot count delayed or in-flight messages
                        depths.add_metric([queue, kind], size)
            up.add_metric([], 1)
        except TransportError:
            up.add_metric([], 0)
        yield depths
        yield up
        if self._paused is not None:
            flags = GaugeMetricFamily("arame_queue_paused", "1 for a paused queue, else 0.", labels=["queue"])
            for queue in names:
                flags.add_metric([queue], 1 if queue in paused else 0)
            yield flags
        if self._workers is not None:
            yield GaugeMetricFamily("arame_workers", "Workers alive.", value=self._workers())


def _sizes(app: App, names: Sequence[str]) -> dict[str, dict[str, int | None]]:
    spec = app.broker
    return {
        "ready": dict(queue_sizes(spec, names)),
        "delayed": delayed_sizes(spec, names),
        "in_flight": in_flight_sizes(spec, names),
        "dead": dict(dead_sizes(spec, names)),
    }
