"""Streaming an ASGI request body off ``receive``, under deadlines and a byte cap.

The body is never spooled: :meth:`RequestBody.chunks` hands it on while it arrives, to
the facade's ``pending.finish`` (which streams a PUT into the blob store), in pieces
gathered to ``chunk_bytes`` so a client sending a byte per packet costs one blob write
per piece, not one per packet. Reading happens on the event loop: a client that stalls
or trickles holds a coroutine and a socket, never a worker thread. A broken deadline
ends the stream with ``RequestTimeout``, too many bytes with ``PayloadTooLarge``, a
client that went away with :class:`ClientDisconnected`; the consumer drops whatever
it had written (the file blob store removes its ``.incoming-*`` file).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from upload_tickets import PayloadTooLarge, RequestTimeout
from upload_tickets.http import BodyDeadlines

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

#: Body bytes are handed on in pieces of at least this size (the last one may be shorter).
CHUNK_BYTES = 64 * 1024


class ClientDisconnected(Exception):
    """The client went away before its body was complete; nobody is left to answer."""


class RequestBody:
    """One request's body as it arrives on ``receive``: at most ``limit`` bytes, within ``deadlines``.

    :meth:`first_piece` waits for the first bytes (or the end) before anything is handed
    on, so a client that sends nothing after its headers costs no file and no store call;
    :meth:`chunks` then yields the whole body, that first piece included. ``complete`` is
    true once the last message arrived: a response sent before that closes the connection.
    """

    def __init__(
        self, receive: Receive, limit: int, deadlines: BodyDeadlines, *, chunk_bytes: int = CHUNK_BYTES
    ) -> None:
        self._receive = receive
        self.limit = limit
        self.deadlines = deadlines
        self.chunk_bytes = chunk_bytes
        #: Bytes received so far.
        self.size = 0
        #: True once the client sent its last body message.
        self.complete = False
        self._started: float | None = None
        self._last_byte = 0.0
        self._first: bytes | None = None

    async def first_piece(self) -> None:
        """Wait for the first piece of the body, or its end (``RequestTimeout``, ``PayloadTooLarge``, ...)."""
        if self._first is None:
            self._first = await self._next_piece()

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body, piece by piece, as it arrives; ends with an exception if it breaks a rule."""
        await self.first_piece()
        first, self._first = self._first, b""
        if first:
            yield first
        while piece := await self._next_piece():
            yield piece

    async def _next_piece(self) -> bytes:
        """At least ``chunk_bytes`` more bytes, fewer at the end of the body, ``b""`` after it."""
        pending = bytearray()
        while not self.complete and len(pending) < self.chunk_bytes:
            pending += await self._next_message()
        return bytes(pending)

    async def _next_message(self) -> bytes:
        now = anyio.current_time()
        if self._started is None:
            self._started = self._last_byte = now
        wait = self.deadlines.seconds_left(
            started=self._started, last_byte=self._last_byte, received=self.size, now=now
        )
        message = None
        with anyio.move_on_after(max(wait, 0.0)):
            message = await self._receive()
        if message is None:
            raise RequestTimeout(
                f"the request body stalled or arrived slower than {self.deadlines.min_bytes_per_s} bytes/s"
            )
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk: bytes = message.get("body", b"")
        if chunk:
            if self.size + len(chunk) > self.limit:
                raise PayloadTooLarge(f"the request body exceeds {self.limit} bytes")
            self.size += len(chunk)
            self._last_byte = anyio.current_time()
        if not message.get("more_body", False):
            self.complete = True
        return chunk


__all__ = ["CHUNK_BYTES", "ClientDisconnected", "RequestBody"]
