"""Admission: what a delivery must pass before any task code runs, and why it may not."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from arame.errors import MessageError
from arame.message import MAX_ATTEMPT, MAX_NAME_LENGTH, TaskMessage, is_epoch
from arame.signing import SIGNATURE_HEADER, Signer
from arame.task import Task
from arame.transport import Delivery
from arame.transport.compressed import decompressed

DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024
DEFAULT_MAX_DELIVERIES = 5


class Poison(Exception):
    """A message no worker should run: it goes to the dead-letter queue with this reason.

    Attributes:
        kind: a short error type for the results row (``MalformedMessage``, ``TaskNotRegistered``…).
        reason: what is wrong, in one sentence.
        task_id: the id of the task when the body yielded one.
        task_name: the task name when the body yielded one.
        created: the ``created`` time the body carries, if any: with the id and the name, it
            names the row this message's own publish wrote (see ``Outcome.own_row_only``).
        attempt: the attempt the body carries (0 when unknown).
    """

    def __init__(
        self,
        kind: str,
        reason: str,
        task_id: str | None = None,
        task_name: str = "?",
        *,
        created: float | None = None,
        attempt: int = 0,
    ) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason
        self.task_id = task_id
        self.task_name = task_name
        self.created = created
        self.attempt = attempt

    @classmethod
    def of(cls, kind: str, reason: str, message: TaskMessage) -> Poison:
        """A verdict on a message that decoded: it names its own row."""
        return cls(kind, reason, message.id, message.task, created=message.created, attempt=message.attempt)


@dataclass(frozen=True, slots=True)
class Admission:
    """The checks, in the order they are cheapest to fail.

    Attributes:
        tasks: the registry, name -> Task.
        max_message_size: bytes; larger bodies are refused unread.
        max_deliveries: a message delivered more often than this is refused (it keeps killing
            the workers that run it, or keeps failing to be recorded).
        signer: when set, unsigned or altered messages are refused before they are decoded.
        accept_compressed: decompress a body compressed the way Kombu does (``compression``
            header), up to ``max_message_size``; otherwise such a message is refused unread.
    """

    tasks: Mapping[str, Task[Any, Any]]
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_deliveries: int = DEFAULT_MAX_DELIVERIES
    signer: Signer | None = None
    accept_compressed: bool = False

    def admit(self, delivery: Delivery) -> TaskMessage:
        """Return the task message a delivery carries, if it may run.

        Raises:
            Poison: it may not; the verdict says why.
        """
        body = delivery.raw_body
        if self.signer is not None:
            # First, before the body is read for anything: no row is written for a badly signed
            # message, since trusting its id would let anyone mark a real task failed. Its row
            # stays as the producer left it; the letter says why.
            try:
                self.signer.verify(body, delivery.headers.get(SIGNATURE_HEADER))
            except Exception as exc:
                raise Poison("BadSignature", _reason_of(exc)) from exc
        if len(body) > self.max_message_size:
            # Parsed for its id only, so its row can say why; it never runs.
            reason = f"{len(body)} bytes is over the limit of {self.max_message_size}"
            raise _refused_unread("MessageTooLarge", reason, delivery)
        plain = None  # the body decompressed, when it came compressed
        try:
            plain = self._decompressed(delivery, body)
            message = TaskMessage.from_body(delivery.decode(plain))
            deliveries = delivery.deliveries
        except Poison:
            raise
        except Exception as exc:
            # Raised out of here, it would look like a lost connection: the consumer would
            # reconnect and receive the same message again, forever.
            raise _refused_unread("MalformedMessage", _reason_of(exc), delivery, plain) from exc
        if deliveries is not None and deliveries > self.max_deliveries:
            raise Poison.of(
                "TooManyDeliveries", f"delivered {deliveries} times (limit {self.max_deliveries})", message
            )
        task = self.tasks.get(message.task)
        if task is None:
            raise Poison.of(
                "TaskNotRegistered", f"no task named {message.task!r} is registered in this worker", message
            )
        if task.fits_by_count(message.args, message.kwargs):
            return message
        try:
            task.signature.bind(*message.args, **message.kwargs)
        except TypeError as exc:
            raise Poison.of(
                "InvalidArguments", f"arguments do not fit {message.task}{task.signature}: {exc}", message
            ) from exc
        return message

    def _decompressed(self, delivery: Delivery, body: bytes) -> bytes | None:
        """The body decompressed if it is compressed (``None`` if it is not).

        Raises:
            Poison: compressed while the app does not accept it, or larger than
                ``max_message_size`` once decompressed (found out before it is all in memory).
        """
        method = delivery.compression
        if method is None:
            return None
        if not self.accept_compressed:
            reason = (
                f"the body is compressed ({method[:40]}) and this app does not accept compressed "
                "messages (App(accept_compressed=True))"
            )
            raise Poison("MalformedMessage", reason)
        plain = decompressed(body, method, self.max_message_size)
        if plain is None:
            reason = f"decompressed, it is over the limit of {self.max_message_size} bytes"
            raise Poison("MessageTooLarge", reason)
        return plain


def _reason_of(error: Exception) -> str:
    if isinstance(error, MessageError):
        return error.reason
    return f"{type(error).__name__}: {error}"


def _refused_unread(kind: str, reason: str, delivery: Delivery, plain: bytes | None = None) -> Poison:
    """A verdict on a body that was not read as a task message, with what it names of itself.

    Only an id the results table can hold is taken. With a task name and a ``created`` time
    as well (a task message too large to run, or one whose other fields are broken), its
    outcome may update the row its own publish wrote, which must match all three; with less,
    it names no row but a new one of its own. A ``created`` time or an attempt count that
    no row can hold is left out (the outcome must be storable).
    """
    try:
        body = delivery.decode(plain)
    except Exception:  # noqa: BLE001 - unreadable in any way: it names nothing
        return Poison(kind, reason)
    if not isinstance(body, dict):
        return Poison(kind, reason)
    task_id, name, created = body.get("id"), body.get("task"), body.get("created")
    if not isinstance(task_id, str) or not task_id or len(task_id) > MAX_NAME_LENGTH:
        return Poison(kind, reason)
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LENGTH:
        return Poison(kind, reason, task_id)
    attempt = body.get("attempt")
    attempt = attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else 0
    return Poison(
        kind,
        reason,
        task_id,
        name,
        created=float(created) if is_epoch(created) else None,
        attempt=attempt if 0 <= attempt <= MAX_ATTEMPT else 0,
    )


def one_copy_each(
    batch: list[tuple[TaskMessage, Delivery]], settle: Callable[[Delivery, bool], None]
) -> list[tuple[TaskMessage, Delivery]]:
    """``batch`` with one message per task id: another copy of a task goes back to the broker.

    A claim tells the ids that may run, so two copies of one task (a retry published while the
    first still waited) must not be claimed together: the one put back comes again later and
    its claim decides then (it runs only if the row is free, or running for that same copy).
    """
    seen: set[str] = set()
    kept = []
    for held in batch:
        if held[0].id in seen:
            settle(held[1], False)
        else:
            seen.add(held[0].id)
            kept.append(held)
    return kept
