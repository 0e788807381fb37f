"""Admission: what a delivery must pass before any task code runs, and why it may not."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from arame.errors import MessageError
from arame.message import TaskMessage
from arame.signing import SIGNATURE_HEADER, Signer
from arame.task import Task
from arame.transport import Delivery

DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024
DEFAULT_MAX_DELIVERIES = 5


class Poison(Exception):
    """A message no worker should run: it goes to the dead-letter queue with this reason.

    Attributes:
        kind: a short error type for the results row (``MalformedMessage``, ``TaskNotRegistered``…).
        reason: what is wrong, in one sentence.
        task_id: the id of the task when the body yielded one.
        task_name: the task name when the body yielded one.
    """

    def __init__(self, kind: str, reason: str, task_id: str | None = None, task_name: str = "?") -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason
        self.task_id = task_id
        self.task_name = task_name


@dataclass(frozen=True, slots=True)
class Admission:
    """The checks, in the order they are cheapest to fail.

    Attributes:
        tasks: the registry, name -> Task.
        max_message_size: bytes; larger bodies are refused unread.
        max_deliveries: a message delivered more often than this is refused (it keeps killing
            the workers that run it, or keeps failing to be recorded).
        signer: when set, unsigned or altered messages are refused before they are decoded.
    """

    tasks: Mapping[str, Task[Any, Any]]
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_deliveries: int = DEFAULT_MAX_DELIVERIES
    signer: Signer | None = None

    def admit(self, delivery: Delivery) -> TaskMessage:
        """Return the task message a delivery carries, if it may run.

        Raises:
            Poison: it may not; the verdict says why.
        """
        body = delivery.raw_body
        if len(body) > self.max_message_size:
            # Parsed for its id only, so its row can say why; it never runs.
            raise Poison(
                "MessageTooLarge",
                f"{len(body)} bytes is over the limit of {self.max_message_size}",
                _id_in(delivery),
            )
        if self.signer is not None:
            # No row is written for a badly signed message: trusting its id would let anyone
            # mark a real task failed. Its row stays as the producer left it; the letter says why.
            try:
                self.signer.verify(body, delivery.headers.get(SIGNATURE_HEADER))
            except MessageError as exc:
                raise Poison("BadSignature", exc.reason) from exc
        try:
            message = TaskMessage.from_body(delivery.decode())
        except MessageError as exc:
            raise Poison("MalformedMessage", exc.reason, _id_in(delivery)) from exc
        deliveries = delivery.deliveries
        if deliveries is not None and deliveries > self.max_deliveries:
            raise Poison(
                "TooManyDeliveries",
                f"delivered {deliveries} times (limit {self.max_deliveries})",
                message.id,
                message.task,
            )
        task = self.tasks.get(message.task)
        if task is None:
            raise Poison(
                "TaskNotRegistered",
                f"no task named {message.task!r} is registered in this worker",
                message.id,
                message.task,
            )
        try:
            task.signature.bind(*message.args, **message.kwargs)
        except TypeError as exc:
            raise Poison(
                "InvalidArguments",
                f"arguments do not fit {message.task}{task.signature}: {exc}",
                message.id,
                message.task,
            ) from exc
        return message


def _id_in(delivery: Delivery) -> str | None:
    """The task id of a body that is JSON but breaks the protocol, so its row can say why."""
    try:
        body = delivery.decode()
    except MessageError:
        return None
    task_id = body.get("id") if isinstance(body, dict) else None
    return task_id if isinstance(task_id, str) and task_id else None
