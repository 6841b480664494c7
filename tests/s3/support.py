"""The S3 servers the tests run against, and services on them (reopenable by spawned child processes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import httpx
from anyio.from_thread import BlockingPortal
from botocore.credentials import Credentials

from tests.s3.servers import ACCESS_KEY, BUCKET, SECRET_KEY, S3Server
from tests.support import make_signer
from upload_tickets import (
    ManualClock,
    MemoryRateLimiter,
    MemoryTicketStore,
    MintRequest,
    SystemClock,
    UploadTickets,
)
from upload_tickets.protocols import BlobStore, Clock
from upload_tickets.testing import blocking
from upload_tickets_s3 import S3Signer
from upload_tickets_sql import open_backend

PNG = MintRequest("front.png", "png", "image/png")


@attrs.define
class Flavour:
    """Makes blob stores of one flavour, records the status of every answer S3 gives them, closes them after.

    An async store runs on ``portal``'s loop behind :func:`blocking`, so one sync test
    body drives either flavour.
    """

    name: str
    portal: BlockingPortal
    statuses: list[int] = attrs.Factory(list)
    _closers: list[Callable[[], object]] = attrs.Factory(list)

    def blobs(self, server: S3Server, credentials: Credentials | None = None) -> Any:
        """A blob store of this flavour on ``server``, on an HTTP client of its own."""
        if self.name == "sync":
            client = httpx.Client(event_hooks={"response": [self._record]})
            self._closers.append(client.close)
            return server.blobs(client, credentials)

        async def record(response: httpx.Response) -> None:
            self._record(response)

        async_client = httpx.AsyncClient(event_hooks={"response": [record]})
        self._closers.append(lambda: self.portal.call(async_client.aclose))
        return blocking(server.async_blobs(async_client, credentials), self.portal)

    def _record(self, response: httpx.Response) -> None:
        self.statuses.append(response.status_code)

    def close(self) -> None:
        """Close every client this made."""
        while self._closers:
            self._closers.pop()()


def direct_service(
    server: S3Server, *, clock: ManualClock | SystemClock | None = None, max_bytes: int = 1 << 20
) -> UploadTickets:
    """Clients PUT straight to the bucket with presigned URLs (S3Signer); tickets in memory."""
    clock = clock or SystemClock()
    return UploadTickets(
        store=MemoryTicketStore(),
        limiter=MemoryRateLimiter(clock),
        signer=S3Signer(server.location, credentials=server.credentials()),
        blobs=server.blobs(),
        clock=clock,
        max_upload_bytes=max_bytes,
    )


def hosted_service(server: S3Server, clock: Clock) -> UploadTickets:
    """Bytes in S3 behind a local (verifying) upload host, as the exported byte-ownership suites PUT them."""
    return UploadTickets(
        store=MemoryTicketStore(),
        limiter=MemoryRateLimiter(clock),
        signer=make_signer(),
        blobs=server.blobs(),
        clock=clock,
    )


def open_service(server: S3Server, database_url: str, clock: Clock) -> UploadTickets:
    """The same SQL tickets and S3 objects each time (``functools.partial`` it for a child process)."""
    backend = open_backend(database_url, create=True)
    return UploadTickets(store=backend, limiter=backend, signer=make_signer(), blobs=server.blobs(), clock=clock)


def list_blob_keys(server: S3Server) -> set[str]:
    """The blob keys of every object under ``server``'s location (listed with list_objects_v2)."""
    keys = (server.location.blob_key(key) for key in server.object_keys())
    return {key for key in keys if key is not None}


def put(url: str, data: bytes, content_type: str = "image/png") -> httpx.Response:
    """PUT bytes to a presigned URL, as a client would."""
    return httpx.put(url, content=data, headers={"Content-Type": content_type})


def read(blobs: BlobStore, key: str) -> bytes:
    """A blob's bytes."""
    with blobs.open(key) as stream:
        return stream.read()


__all__ = [
    "ACCESS_KEY",
    "BUCKET",
    "Flavour",
    "PNG",
    "SECRET_KEY",
    "S3Server",
    "direct_service",
    "hosted_service",
    "list_blob_keys",
    "open_service",
    "put",
    "read",
]
