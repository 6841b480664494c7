"""Services on Redis for the tests: in-process, and reopenable by spawned child processes."""

from __future__ import annotations

from pathlib import Path

from tests.support import make_signer
from upload_tickets import FileBlobStore, UploadTickets
from upload_tickets.protocols import BlobStore, Clock
from upload_tickets_redis import RedisBackend, open_backend


def redis_service(backend: RedisBackend, clock: Clock, blobs: BlobStore) -> UploadTickets:
    """A service whose store and limiter are ``backend``, with a local (verifying) upload host."""
    return UploadTickets(store=backend, limiter=backend, signer=make_signer(), blobs=blobs, clock=clock)


def open_service(url: str, prefix: str, blob_root: Path, clock: Clock) -> UploadTickets:
    """Open the same Redis keys and file blobs each time (``functools.partial`` it for a child process)."""
    return redis_service(open_backend(url, prefix=prefix), clock, FileBlobStore(blob_root, fsync=False))


def list_blob_keys(blob_root: Path) -> set[str]:
    """Every key a :class:`FileBlobStore` at ``blob_root`` holds (files are ``<folder>/<shard>/<name>``)."""
    files = (path for path in blob_root.rglob("*") if path.is_file())
    return {(path.parent.parent / path.name).relative_to(blob_root).as_posix() for path in files}
