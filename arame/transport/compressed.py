"""Compressed bodies: kept as they arrived, and decompressed only on request, only so far.

Kombu decompresses a received message whose ``compression`` header is set, in the message's
constructor, before anyone can look at it: 200 KiB of zlib would become 200 MiB in the worker
before the signature check and ``max_message_size``. arame's transports build their messages
with the classes below, which move that header to ``x-arame-compression`` first, so the body
stays as it arrived. The worker refuses such a message, or (``App(accept_compressed=True)``)
decompresses it with ``decompressed``, which stops at a limit.

The header is moved in the stored message itself, so a message given back to its queue, a copy
in a dead-letter queue and a letter listed by ``arame dead`` all keep the compressed body with
the header that says so, and none of them is ever decompressed by Kombu.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from kombu.transport import pyamqp, virtual

from arame.errors import MessageError
from arame.transport.amqp_reads import ReadAheadTransport

#: Kombu's header: the body is compressed (its value names how: ``application/x-gzip``...).
KOMBU_COMPRESSION = "compression"
#: Where arame's transports keep that value instead, so that Kombu leaves the body alone.
COMPRESSION = "x-arame-compression"


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


#: Kombu's names of each method (its content type and aliases) -> a bounded decompressor.
_DECOMPRESSORS: dict[str, Callable[[], _Decompressor]] = {
    # Kombu's "zlib" is zlib's format; gzip's is accepted as well (MAX_WBITS | 32: either).
    **dict.fromkeys(("application/x-gzip", "gzip", "zlib"), lambda: zlib.decompressobj(zlib.MAX_WBITS | 32)),
    **dict.fromkeys(("application/x-bz2", "bzip2", "bzip"), bz2.BZ2Decompressor),
    **dict.fromkeys(("application/x-lzma", "lzma", "xz"), lzma.LZMADecompressor),
}


def hold_compression(headers: Any) -> None:
    """Move Kombu's ``compression`` header of a received message to ``x-arame-compression``."""
    if isinstance(headers, dict) and headers.get(KOMBU_COMPRESSION):
        headers[COMPRESSION] = headers.pop(KOMBU_COMPRESSION)


def decompressed(body: bytes, method: str, limit: int) -> bytes | None:
    """``body`` decompressed, or ``None`` as soon as it grows past ``limit`` bytes.

    Never holds more than ``limit`` + 1 bytes of output, however much the body would expand.

    Raises:
        MessageError: an unknown method, or a body that is not what the method makes.
    """
    make = _DECOMPRESSORS.get(str(method))
    if make is None:
        known = ", ".join(("zlib", "bzip2", "lzma"))
        raise MessageError(f"the body is compressed with {str(method)[:40]!r}; arame decompresses {known}")
    decompressor = make()
    try:
        out = decompressor.decompress(body, limit + 1)
    except (zlib.error, OSError, lzma.LZMAError, ValueError, EOFError) as exc:
        raise MessageError(f"the compressed body cannot be decompressed ({method}): {exc}") from exc
    if len(out) > limit:
        return None
    if not decompressor.eof or decompressor.unused_data:
        raise MessageError(f"the compressed body ({method}) is truncated or has data after its end")
    return out


class VirtualMessage(virtual.Message):
    """Kombu's message of its virtual transports (memory, and arame's Redis and SQL), never decompressed."""

    def __init__(self, payload: Any, channel: Any = None, **kwargs: Any) -> None:
        hold_compression(payload.get("headers"))
        super().__init__(payload, channel=channel, **kwargs)


class AmqpMessage(pyamqp.Message):
    """Kombu's RabbitMQ message, never decompressed."""

    def __init__(self, msg: Any, channel: Any = None, **kwargs: Any) -> None:
        hold_compression(msg.properties.get("application_headers"))
        super().__init__(msg, channel=channel, **kwargs)


class AmqpChannel(pyamqp.Channel):
    Message = AmqpMessage


class AmqpConnection(pyamqp.Connection):
    Channel = AmqpChannel

    def Transport(  # noqa: N802 - py-amqp's name for the factory of its socket transport
        self,
        host: Any,
        connect_timeout: Any,
        ssl: Any = False,
        read_timeout: Any = None,
        write_timeout: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Plain TCP reads ahead (see ``amqp_reads``); TLS stays py-amqp's own."""
        if ssl:
            return super().Transport(host, connect_timeout, ssl, read_timeout, write_timeout, **kwargs)
        return ReadAheadTransport(
            host,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            **kwargs,
        )


class AmqpTransport(pyamqp.Transport):
    """Kombu's RabbitMQ transport, whose received messages keep their compressed bodies."""

    Connection = AmqpConnection


class AmqpSSLTransport(pyamqp.SSLTransport):
    """Kombu's RabbitMQ transport over TLS, whose received messages keep their compressed bodies."""

    Connection = AmqpConnection
