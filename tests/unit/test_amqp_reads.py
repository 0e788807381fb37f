"""The RabbitMQ transport's reads ahead: frames whole and in order, however the bytes arrive."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest

from arame.transport.amqp_reads import ReadAheadTransport


def frame(channel: int, payload: bytes, kind: int = 1) -> bytes:
    """An AMQP frame: type, channel, size, payload, end octet."""
    return struct.pack(">BHI", kind, channel, len(payload)) + payload + b"\xce"


@pytest.fixture
def pair() -> Iterator[tuple[ReadAheadTransport, socket.socket, list[int]]]:
    """A transport reading one end of a socket pair, the other end, and the sizes of its recv calls."""
    ours, theirs = socket.socketpair()
    transport = ReadAheadTransport("127.0.0.1:5672")
    transport.sock = ours
    transport._setup_transport()
    calls: list[int] = []
    recv = transport._quick_recv

    def counted(size: int) -> bytes:
        calls.append(size)
        return recv(size)

    transport._quick_recv = counted
    yield transport, theirs, calls
    ours.close()
    theirs.close()


def test_frames_sent_together_are_read_whole_in_order_with_one_recv(pair):
    transport, peer, calls = pair
    frames = [frame(1, b"method"), frame(1, b"x" * 300, kind=2), frame(2, b"")]
    peer.sendall(b"".join(frames))

    read = [transport.read_frame() for _ in frames]

    assert [(kind, channel, bytes(payload)) for kind, channel, payload in read] == [
        (1, 1, b"method"),
        (2, 1, b"x" * 300),
        (1, 2, b""),
    ]
    assert len(calls) == 1


def test_a_frame_larger_than_the_read_ahead_arrives_whole(pair):
    transport, peer, _ = pair
    body = bytes(range(256)) * 100  # 25,600 bytes
    peer.sendall(frame(3, body, kind=3))

    kind, channel, payload = transport.read_frame()

    assert (kind, channel, bytes(payload)) == (3, 3, body)


def test_a_read_that_times_out_mid_frame_loses_nothing_and_the_frame_completes_later(pair):
    transport, peer, _ = pair
    whole = frame(1, b"a payload cut in two")
    peer.sendall(whole[:10])

    with pytest.raises(socket.timeout), transport.having_timeout(0.05):
        transport.read_frame()
    peer.sendall(whole[10:] + frame(1, b"next"))

    with transport.having_timeout(1.0):
        assert bytes(transport.read_frame()[2]) == b"a payload cut in two"
    # The next frame is buffered already: read without touching the socket's timeout.
    assert transport._frame_buffered()
    assert bytes(transport.read_frame()[2]) == b"next"


def test_a_closed_connection_is_an_error_not_a_short_frame(pair):
    transport, peer, _ = pair
    peer.sendall(frame(1, b"cut")[:5])
    peer.close()

    with pytest.raises(OSError, match="closed"):
        transport.read_frame()
