"""py-amqp's TCP transport, reading ahead: one ``recv`` for many frames instead of three per frame.

py-amqp reads each frame as three exact-size ``recv`` calls (header, payload, end octet), and
around each frame sets the socket's timeout and puts it back (``having_timeout``): with a worker
draining with a timeout, nine reads and six timeout changes per delivered message, each a system
call or two. This transport reads up to ``READ_AHEAD`` bytes at a time into py-amqp's own read
buffer (so its handling of a read that times out mid-frame is unchanged), and leaves the timeout
alone while a whole frame already waits there: reading it touches no socket.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from amqp.transport import TCPTransport

#: Bytes asked of the socket at least per read: a few deliveries' frames. The buffer is bytes,
#: sliced at each read (as py-amqp does), so a larger one would copy more than it saves.
READ_AHEAD = 4096
_HEADER = 7  # frame type (1), channel (2), payload size (4); then the payload and one end octet


class ReadAheadTransport(TCPTransport):  # type: ignore[misc]
    """``amqp.transport.TCPTransport`` with reads ahead (see the module)."""

    def _read(
        self, n: int, initial: bool = False, _errnos: tuple[int, ...] = (errno.EAGAIN, errno.EINTR)
    ) -> bytes:
        """Read exactly ``n`` bytes: from the buffer, after as few ``recv`` as it takes."""
        rbuf: bytes = self._read_buffer  # type: ignore[has-type] # py-amqp's, untyped
        if len(rbuf) < n:
            recv = self._quick_recv
            try:
                while len(rbuf) < n:
                    try:
                        received = recv(max(n - len(rbuf), READ_AHEAD))
                    except OSError as exc:
                        if exc.errno in _errnos:
                            if initial and self.raise_on_initial_eintr:
                                raise TimeoutError() from exc
                            continue
                        raise
                    if not received:
                        raise OSError("Server unexpectedly closed connection")
                    rbuf += received
            except BaseException:
                self._read_buffer = rbuf
                raise
        result, self._read_buffer = rbuf[:n], rbuf[n:]
        return result

    @contextmanager
    def having_timeout(self, timeout: float | None) -> Iterator[Any]:
        """As py-amqp's, but without touching the socket when a whole frame is buffered."""
        if timeout is None or self._frame_buffered():
            yield self.sock
            return
        with super().having_timeout(timeout) as sock:
            yield sock

    def _frame_buffered(self) -> bool:
        rbuf: bytes = self._read_buffer
        if len(rbuf) < _HEADER:
            return False
        return len(rbuf) >= _HEADER + int.from_bytes(rbuf[3:_HEADER], "big") + 1
