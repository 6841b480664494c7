"""The S3 servers the tests run against, and services on them (reopenable by spawned child processes)."""

from __future__ import annotations

import uuid
from typing import Any

import attrs
import httpx
from botocore.credentials import Credentials

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
from upload_tickets_s3 import S3BlobStore, S3Location, S3Signer, s3_client
from upload_tickets_sql import open_backend

ACCESS_KEY = SECRET_KEY = "S3RVER"  # s3rver's built-in account
BUCKET = "uploads"
PNG = MintRequest("front.png", "png", "image/png")


@attrs.frozen
class S3Server:
    """A running S3-compatible server, its bucket, and the account that signs for it (key and secret alike)."""

    endpoint: str
    location: S3Location
    key: str = ACCESS_KEY

    def client(self) -> Any:
        """A boto3 client on this server."""
        return s3_client(self.location, aws_access_key_id=self.key, aws_secret_access_key=self.key)

    def credentials(self) -> Credentials:
        """The account's credentials, for an :class:`S3Signer`."""
        return Credentials(self.key, self.key)

    def blobs(self) -> S3BlobStore:
        """A blob store on this server's location."""
        return S3BlobStore(self.client(), self.location)

    def isolated(self) -> S3Server:
        """This server with upload and character prefixes of its own: tests sharing the bucket never meet."""
        tag = f"t-{uuid.uuid4().hex[:12]}"
        location = attrs.evolve(self.location, prefix=f"{tag}/uploads/", character_prefix=f"{tag}/characters/")
        return attrs.evolve(self, location=location)

    def object_keys(self) -> set[str]:
        """Every object key in the bucket."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.location.bucket)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}


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
