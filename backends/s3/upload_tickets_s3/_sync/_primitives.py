"""The sync twins of ``_async/_primitives.py``: plain calls on the caller's thread."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TypeVar

import botocore.credentials

from upload_tickets.backend_kit import read_capped

_T = TypeVar("_T")


def read_body(chunks: Iterable[bytes], max_bytes: int) -> bytes:
    """The whole body, ``PayloadTooLarge`` once past ``max_bytes`` (S3 wants its length, and we its hash, up front)."""
    return read_capped(chunks, max_bytes)


def frozen_credentials(credentials: botocore.credentials.Credentials) -> botocore.credentials.ReadOnlyCredentials:
    """The credentials to sign with now (botocore refreshes them first when they are due)."""
    return credentials.get_frozen_credentials()


def to_the_end(function: Callable[..., _T], *args: object) -> _T:
    """Call ``function`` right here: sync code is not cancelled halfway."""
    return function(*args)


def sleep(seconds: float) -> None:
    """Wait before another attempt."""
    time.sleep(seconds)


__all__ = ["frozen_credentials", "read_body", "sleep", "to_the_end"]
