"""Raw HTTP/1.1 over sockets: requests that stop half-way, and reading what comes back."""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import attrs


@attrs.frozen
class RawResponse:
    """One response head and body as read off the socket."""

    status: int
    headers: dict[str, str]
    body: bytes

    def code(self) -> str:
        """The spec error body's ``code``."""
        error: dict[str, Any] = json.loads(self.body)["error"]
        assert set(error) == {"type", "code", "message", "param"}
        return str(error["code"])


def connect(base_url: str) -> socket.socket:
    """A fresh connection to the server at ``base_url``."""
    parts = urlsplit(base_url)
    return socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=10)


def send_head(connection: socket.socket, method: str, target: str, headers: dict[str, str]) -> None:
    """Send the request line and headers only."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


def target_of(url: str) -> str:
    """The request target (path and query) of ``url``."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def read_response(connection: socket.socket, timeout: float) -> RawResponse:
    """The next response; ``ConnectionError`` if the server closed the connection first."""
    connection.settimeout(timeout)
    buffer = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in buffer:
        chunk = _recv(connection, deadline)
        if not chunk:
            raise ConnectionError("the server closed the connection without answering")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = _recv(connection, deadline)
        if not chunk:
            break
        rest += chunk
    return RawResponse(int(status_line.split()[1]), headers, rest[:length])


def _recv(connection: socket.socket, deadline: float) -> bytes:
    connection.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        return connection.recv(65536)
    except ConnectionResetError:
        return b""
