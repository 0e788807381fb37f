"""Publishing what the extensions' ``on_record`` returned, once the outcomes' transaction has committed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from arame.message import TaskMessage

logger = logging.getLogger(__name__)

#: Publishes messages to the broker (the App's producer).
Publish = Callable[[Sequence[TaskMessage]], None]


def publish_after_commit(publish: Publish | None, messages: Sequence[TaskMessage]) -> None:
    """Publish ``messages`` (workflow steps that fired); a failed publish is left to reconcile.

    Their PENDING rows, committed with the outcomes, carry them: ``arame reconcile`` publishes a
    row whose message never reached the broker.
    """
    if publish is None:
        logger.warning(
            "%d workflow step(s) fired with no publisher set; reconcile publishes them", len(messages)
        )
        return
    try:
        publish(messages)
    except Exception as exc:  # noqa: BLE001 - the rows are committed: reconcile publishes them later
        logger.warning(
            "could not publish %d workflow step(s) (%s); their PENDING rows carry them for reconcile",
            len(messages),
            exc,
        )
