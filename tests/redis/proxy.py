"""A TCP proxy in front of a Redis node that can lose an answer: the request runs, its reply never arrives.

That is what a client sees when the network fails after a write went out: the server
did the work, the client got an error. Pausing the server cannot show it (a paused
command whose client hangs up never runs).
"""

from __future__ import annotations

import contextlib
import socket
import threading


class _Link:
    """One client connection and its upstream connection; ``doomed`` once a trapped request passed."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.doomed = False

    def cut(self) -> None:
        for end in (self.client, self.upstream):
            with contextlib.suppress(OSError):  # already gone
                end.shutdown(socket.SHUT_RDWR)
            end.close()


class LossyProxy:
    """Forwards loopback TCP to ``upstream``; :meth:`lose_reply_to` arms a one-shot trap."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        host, port = self._listener.getsockname()[:2]
        self.address: tuple[str, int] = (str(host), int(port))
        self._lock = threading.Lock()
        self._trap: bytes | None = None
        self._links: list[_Link] = []
        #: Set when an armed trap has cut a connection.
        self.sprung = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def lose_reply_to(self, marker: bytes) -> None:
        """Let the next request containing ``marker`` through, then cut its connection before the reply."""
        with self._lock:
            self._trap = marker
            self.sprung.clear()

    def disarm(self) -> None:
        """Drop a trap that has not sprung."""
        with self._lock:
            self._trap = None

    def close(self) -> None:
        """Stop listening and cut every connection."""
        # Wakes the accepting thread (closing alone leaves it blocked).
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.cut()
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            link = _Link(client, upstream)
            with self._lock:
                self._links.append(link)
            for pump in (self._requests, self._replies):
                thread = threading.Thread(target=pump, args=(link,), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _requests(self, link: _Link) -> None:
        tail = b""
        while True:
            try:
                data = link.client.recv(65536)
            except OSError:
                data = b""
            if not data:
                link.cut()
                return
            with self._lock:
                # The tail lets a marker split across two reads still match.
                if self._trap is not None and self._trap in tail + data:
                    self._trap = None
                    link.doomed = True  # before the request goes on: its reply must not slip back
                tail = (tail + data)[-64:]
            try:
                link.upstream.sendall(data)
            except OSError:
                link.cut()
                return

    def _replies(self, link: _Link) -> None:
        while True:
            try:
                data = link.upstream.recv(65536)
            except OSError:
                data = b""
            if not data or link.doomed:
                if link.doomed:
                    self.sprung.set()  # first: the cut wakes the client at once
                link.cut()
                return
            try:
                link.client.sendall(data)
            except OSError:
                link.cut()
                return
