"""Reading an ASGI request body on the event loop, under deadlines and a byte cap.

The body is read before any worker thread is involved, so a client that stalls or
trickles holds a coroutine and a socket, never a thread. Small bodies stay in memory;
past ``spool_bytes`` they go to an anonymous temporary file (written off the loop),
which disappears when closed, so a dropped upload leaves nothing behind.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import IO, Any

import anyio
import anyio.to_thread

from upload_tickets import PayloadTooLarge, RequestTimeout
from upload_tickets.http import BodyDeadlines

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
_READ_CHUNK = 64 * 1024


class ClientDisconnected(Exception):
    """The client went away before its body was complete; nobody is left to answer."""


class SpooledBody:
    """Body bytes in memory up to ``spool_bytes``, then in an anonymous temporary file."""

    def __init__(self, spool_bytes: int) -> None:
        self._spool_bytes = spool_bytes
        self._memory = bytearray()
        self._file: IO[bytes] | None = None
        self.size = 0

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk``; file writes run on a worker thread."""
        self.size += len(chunk)
        if self._file is None and len(self._memory) + len(chunk) <= self._spool_bytes:
            self._memory += chunk
            return
        if self._file is None:
            self._file = await anyio.to_thread.run_sync(tempfile.TemporaryFile)
            pending, self._memory = bytes(self._memory) + chunk, bytearray()
        else:
            pending = chunk
        await anyio.to_thread.run_sync(self._file.write, pending)

    def chunks(self) -> Iterator[bytes]:
        """The body again, chunk by chunk (blocking file reads: call from a worker thread)."""
        if self._file is None:
            if self._memory:
                yield bytes(self._memory)
            return
        self._file.seek(0)
        while chunk := self._file.read(_READ_CHUNK):
            yield chunk

    def close(self) -> None:
        """Drop the bytes (the temporary file is deleted)."""
        self._memory = bytearray()
        if self._file is not None:
            self._file.close()


async def read_body(receive: Receive, limit: int, deadlines: BodyDeadlines, *, spool_bytes: int) -> SpooledBody:
    """The whole body, or ``RequestTimeout`` / ``PayloadTooLarge`` / ``ClientDisconnected`` with nothing kept."""
    body = SpooledBody(spool_bytes)
    try:
        started = last_byte = anyio.current_time()
        while True:
            wait = deadlines.seconds_left(
                started=started, last_byte=last_byte, received=body.size, now=anyio.current_time()
            )
            message = None
            with anyio.move_on_after(max(wait, 0.0)):
                message = await receive()
            if message is None:
                raise RequestTimeout(
                    f"the request body stalled or arrived slower than {deadlines.min_bytes_per_s} bytes/s"
                )
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            chunk: bytes = message.get("body", b"")
            if chunk:
                if body.size + len(chunk) > limit:
                    raise PayloadTooLarge(f"the request body exceeds {limit} bytes")
                last_byte = anyio.current_time()
                await body.write(chunk)
            if not message.get("more_body", False):
                return body
    except BaseException:
        body.close()
        raise
