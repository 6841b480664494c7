"""Where the async S3 blob store differs by nature; ``_sync/_primitives.py`` is the twin.

Hand-written on both sides: everything else in ``_async`` is turned into its sync twin
line by line.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from typing import TypeVar

import anyio
import botocore.credentials

from upload_tickets.backend_kit import async_read_capped, offload, shielded

_T = TypeVar("_T")


async def read_body(chunks: AsyncIterable[bytes], max_bytes: int) -> bytes:
    """The whole body, ``PayloadTooLarge`` once past ``max_bytes`` (S3 wants its length, and we its hash, up front)."""
    return await async_read_capped(chunks, max_bytes)


async def frozen_credentials(credentials: botocore.credentials.Credentials) -> botocore.credentials.ReadOnlyCredentials:
    """The credentials to sign with now.

    Usually a lookup; when botocore is due to refresh them, it calls STS or the instance
    metadata service, a blocking request, so that call goes to a worker thread.
    """
    if isinstance(credentials, botocore.credentials.RefreshableCredentials) and credentials.refresh_needed():
        return await offload(credentials.get_frozen_credentials)
    return credentials.get_frozen_credentials()


async def to_the_end(function: Callable[..., Awaitable[_T]], *args: object) -> _T:
    """``function(*args)``, run to its end even if the caller is cancelled meanwhile (then cancelled)."""
    return await shielded(function, *args)


async def sleep(seconds: float) -> None:
    """Wait before another attempt, without holding up the event loop."""
    await anyio.sleep(seconds)


__all__ = ["frozen_credentials", "read_body", "sleep", "to_the_end"]
