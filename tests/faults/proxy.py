"""A TCP proxy on loopback, to cut a worker's broker connections without touching the server."""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    """Forwards connections from ``127.0.0.1:port`` to ``target``, and can cut or refuse them.

    ``cut()`` closes every proxied connection (both ends) but keeps accepting new ones, as a
    network blip or a broker restart would; ``stop()`` also stops listening, so connections are
    refused (the broker is down) until ``start()`` listens again on the same port.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.accepted = 0
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> TcpProxy:
        """Listen (on the port of the first start); return self."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()
        return self

    def url_for(self, url: str) -> str:
        """``url`` with its ``host:port`` pointed at this proxy."""
        host, port = self.target
        return url.replace(f"{host}:{port}", f"127.0.0.1:{self.port}", 1)

    @property
    def open_connections(self) -> int:
        """Client connections being forwarded now."""
        with self._lock:
            return len(self._sockets) // 2

    def cut(self) -> int:
        """Close every forwarded connection, both ends; return how many there were."""
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            _close(sock)
        return len(sockets) // 2

    def stop(self) -> None:
        """Stop listening (new connections are refused) and cut the open ones."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while not self._stopping.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                client.settimeout(None)
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    _close(client)
                    continue
                upstream.settimeout(None)
                with self._lock:
                    self._sockets.update((client, upstream))
                    self.accepted += 1
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.difference_update((source, sink))
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in recv() on it
    with contextlib.suppress(OSError):
        sock.close()
