"""Assemble the async service from :class:`Settings`: store by URL, files, local HMAC signer, keys.

The store comes from :func:`~upload_tickets.async_backend_from_url`: every adapter we
ship has an async flavour (memory, Redis, SQL), so no store call holds a thread; a
third party's sync adapter would run on worker threads. Blobs go to an
:class:`AsyncFileBlobStore` (file writes on worker threads) or to S3
(``AsyncS3BlobStore``, on the loop). API keys are looked up over the async SQL driver.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio.to_thread

from upload_tickets import (
    AsyncFileBlobStore,
    AsyncUploadTickets,
    BackendNotInstalled,
    HmacSigner,
    RatePolicy,
    RateTable,
    SystemClock,
    TTLPolicy,
    async_backend_from_url,
)
from upload_tickets.http import AsyncHttpApi
from upload_tickets.protocols import AsyncBlobStore, Signer
from upload_tickets_server.keys import AsyncSqlTeamDirectory, SqlTeamDirectory
from upload_tickets_server.settings import Settings

UPLOAD_PATH = "/uploads/"


def load_signing_keys(data_dir: Path) -> tuple[dict[str, bytes], str]:
    """HMAC keys from ``data_dir/signing.keys`` (``kid:hex`` per line, the first signs), made on first use."""
    path = data_dir / "signing.keys"
    if not path.exists():
        kid = "k" + dt.datetime.now(dt.UTC).strftime("%Y%m%d")
        # Exclusive create with 0600: the secret is never readable by other users.
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(f"{kid}:{secrets.token_hex(32)}\n")
    keys: dict[str, bytes] = {}
    for line in path.read_text().split():
        kid, _, secret = line.partition(":")
        keys[kid] = bytes.fromhex(secret)
    if not keys:
        raise ValueError(f"{path} holds no signing key")
    return keys, next(iter(keys))


def _storage(settings: Settings) -> tuple[Signer, AsyncBlobStore]:
    """S3 presigned PUTs when a bucket is configured, else this server as the upload host."""
    if settings.s3_bucket is None:
        keys, signing_kid = load_signing_keys(settings.data_dir)
        signer = HmacSigner(settings.base_url + UPLOAD_PATH.rstrip("/"), keys, signing_kid)
        return signer, AsyncFileBlobStore(settings.data_dir / "blobs")
    try:
        from upload_tickets_s3 import AsyncS3BlobStore, S3Location, S3Signer
    except ModuleNotFoundError as error:
        raise BackendNotInstalled('--s3-bucket needs the S3 adapter: pip install "upload-tickets-s3"') from error
    if settings.s3_addressing not in ("path", "virtual"):
        raise ValueError(f"--s3-addressing is path or virtual, not {settings.s3_addressing!r}")
    location = S3Location(
        bucket=settings.s3_bucket,
        region=settings.s3_region,
        endpoint_url=settings.s3_endpoint,
        addressing="path" if settings.s3_addressing == "path" else "virtual",
        prefix=settings.s3_prefix,
        character_prefix=settings.s3_character_prefix,
    )
    return S3Signer(location), AsyncS3BlobStore(location)


def build_service(settings: Settings) -> AsyncUploadTickets:
    """The service ``serve`` and ``sweep`` run: the store by URL (tables created), the blobs, the signer."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    backend = async_backend_from_url(settings.effective_store_url, create=True)
    signer, blobs = _storage(settings)
    return AsyncUploadTickets(
        store=backend.store,
        limiter=backend.limiter,
        signer=signer,
        blobs=blobs,
        clock=SystemClock(),
        ttl=TTLPolicy(
            upload_url_ttl=dt.timedelta(seconds=settings.upload_url_ttl_s),
            ticket_ttl=dt.timedelta(seconds=settings.ticket_ttl_s),
        ),
        max_upload_bytes=settings.max_upload_bytes,
        # The spec's table: the three POSTs share one bucket.
        rates=RateTable.shared(
            RatePolicy(
                name="characters_post",
                limit=settings.rate_per_minute,
                period=dt.timedelta(minutes=1),
                burst=settings.burst,
            )
        ),
    )


def build(settings: Settings) -> tuple[AsyncHttpApi, SqlTeamDirectory, Callable[[], Awaitable[None]]]:
    """The HTTP API ``serve`` runs, the key directory, and what closes their connections at shutdown.

    The sync directory makes the key table and serves the start message; the API looks
    keys up through :class:`AsyncSqlTeamDirectory`, over the async SQL driver.
    """
    service = build_service(settings)
    teams = SqlTeamDirectory(settings.effective_keys_url)
    lookups = AsyncSqlTeamDirectory(settings.effective_keys_url)
    api = AsyncHttpApi(service, lookups, upload_path=UPLOAD_PATH)
    return api, teams, functools.partial(close_backend, service, lookups)


async def close_backend(service: AsyncUploadTickets, *others: object) -> None:
    """Close the connections of the service's store, limiter and blobs, and of ``others``, on the loop that used them.

    Each part's ``aclose`` is awaited; a sync part run on worker threads
    (:mod:`upload_tickets.threaded`) has its ``dispose`` run on a thread.
    """
    parts = {id(part): part for part in (service.store, service.limiter, service.blobs, *others)}
    for part in parts.values():
        aclose = getattr(part, "aclose", None)
        if aclose is not None:
            await aclose()
            continue
        dispose = getattr(getattr(part, "inner", None), "dispose", None)
        if dispose is not None:
            await anyio.to_thread.run_sync(dispose)
