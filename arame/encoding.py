"""One encoder for a task message: body, size check and signature, as the broker will carry it.

The producer publishes through it, and so does the consumer when it publishes a retry.
"""

from __future__ import annotations

from arame.errors import MessageError, PublishError
from arame.message import TaskMessage
from arame.signing import SIGNATURE_HEADER, Signer
from arame.transport import Outgoing


def encode(
    message: TaskMessage,
    signer: Signer | None = None,
    *,
    max_size: int | None = None,
    url: str = "",
    body: str | None = None,
) -> Outgoing:
    """Encode, size-check and sign one message.

    Args:
        message: the message.
        signer: when set, the body is signed.
        max_size: bytes; a larger body is refused.
        url: the broker's printable URL, for the error.
        body: ``message.to_body()``, when the caller encoded it already (for the results row).

    Raises:
        PublishError: the message cannot be encoded, or is over ``max_size``.
    """
    if body is None:
        try:
            body = message.to_body()
        except MessageError as exc:
            raise PublishError(str(exc), url=url, task_id=message.id) from exc
    # UTF-8 takes at most 4 bytes a character: a body well under the limit needs no encoding.
    if max_size is not None and len(body) * 4 > max_size:
        size = len(body.encode())
        if size > max_size:
            raise PublishError(
                f"task {message.id} ({message.task}) is {size} bytes, over the limit of "
                f"{max_size} (max_message_size); pass a reference, not the data",
                url=url,
                task_id=message.id,
            )
    headers = {SIGNATURE_HEADER: signer.sign(body.encode())} if signer else None
    if message.trace:  # Tracing hook: W3C trace context in the headers too, for other tools
        headers = {**(headers or {}), **message.trace}
    return Outgoing(body, message.queue, message.priority, headers, message.eta)
