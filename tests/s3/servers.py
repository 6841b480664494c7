"""The S3-compatible servers the tests (and ``benchmarks/s3_async_clients.py``) run against, and how to start s3rver.

Light on purpose (no database or Redis import): a benchmark's throwaway virtualenv can
import it with the S3 adapter alone.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
from botocore.credentials import Credentials

from upload_tickets.testing.processes import free_port, running
from upload_tickets_s3 import AsyncS3BlobStore, S3BlobStore, S3Location, s3_client

ACCESS_KEY = SECRET_KEY = "S3RVER"  # s3rver's built-in account
BUCKET = "uploads"
S3RVER = Path(__file__).parent / "s3rver"
# One pooled client for the session's sync blob stores: each store making its own would
# leave its sockets for the garbage collector (a ResourceWarning, an error here).
_SHARED_CLIENT: list[httpx.Client] = []


def shared_client() -> httpx.Client:
    """The HTTP client every :meth:`S3Server.blobs` store shares (made on first use)."""
    if not _SHARED_CLIENT:
        _SHARED_CLIENT.append(httpx.Client())
    return _SHARED_CLIENT[0]


def close_shared_client() -> None:
    """Close the shared client, if one was made."""
    while _SHARED_CLIENT:
        _SHARED_CLIENT.pop().close()


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
        """The account's credentials, for an :class:`S3Signer` or a blob store."""
        return Credentials(self.key, self.key)

    def blobs(self, client: httpx.Client | None = None, credentials: Credentials | None = None) -> S3BlobStore:
        """A blob store on this server's location, on ``client`` or the :func:`shared_client`."""
        return S3BlobStore(
            self.location, credentials=credentials or self.credentials(), client=client or shared_client()
        )

    def async_blobs(
        self, client: httpx.AsyncClient | None = None, credentials: Credentials | None = None
    ) -> AsyncS3BlobStore:
        """The async blob store on this server's location (``aclose()`` it, on the loop that used it)."""
        return AsyncS3BlobStore(self.location, credentials=credentials or self.credentials(), client=client)

    def isolated(self) -> S3Server:
        """This server with upload and character prefixes of its own: tests sharing the bucket never meet."""
        tag = f"t-{uuid.uuid4().hex[:12]}"
        location = attrs.evolve(self.location, prefix=f"{tag}/uploads/", character_prefix=f"{tag}/characters/")
        return attrs.evolve(self, location=location)

    def object_keys(self) -> set[str]:
        """Every object key in the bucket."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.location.bucket)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}


def s3rver_installed() -> bool:
    """True once ``npm ci`` has installed s3rver beside its start script."""
    return (S3RVER / "node_modules" / "@20minutes" / "s3rver").exists()


def install_s3rver() -> None:
    """Install s3rver with npm (``FileNotFoundError`` without npm)."""
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not installed, so s3rver cannot be installed")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=S3RVER, check=True, capture_output=True, timeout=600)


@contextlib.contextmanager
def s3rver_running(data: Path) -> Iterator[S3Server]:
    """s3rver on a free loopback port, its objects under ``data``, with the test bucket; stopped by PID after."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    command = ["node", str(S3RVER / "serve.js"), "-d", str(data), "-a", "127.0.0.1", "-p", str(port)]

    def answers() -> bool:
        httpx.get(endpoint, timeout=1)
        return True

    with running([*command, "--silent", "--configure-bucket", BUCKET], answers, name="s3rver"):
        yield S3Server(endpoint, S3Location(bucket=BUCKET, endpoint_url=endpoint, addressing="path"), ACCESS_KEY)
