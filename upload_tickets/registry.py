"""Backends by URL scheme, found through the ``upload_tickets.backends`` entry points.

An adapter distribution registers ``scheme = "package.module:factory"``; the factory takes
the URL and keyword options and returns a :class:`Backend`. Imports are lazy: nothing of
an adapter (or its driver) is loaded until a URL asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import attrs

from upload_tickets._errors import BackendNotInstalled
from upload_tickets.protocols import Clock, RateLimiter, TicketStore

ENTRY_POINT_GROUP = "upload_tickets.backends"

# Where each well-known scheme lives, for the "pip install ..." hint.
_DISTRIBUTIONS = {
    "redis": "upload-tickets-redis",
    "rediss": "upload-tickets-redis",
    "unix": "upload-tickets-redis",
    "redis+cluster": "upload-tickets-redis",
    "sqlite": "upload-tickets-sql",
    "postgresql": "upload-tickets-sql",
    "postgres": "upload-tickets-sql",
    "mysql": "upload-tickets-sql",
    "mariadb": "upload-tickets-sql",
}


@attrs.frozen
class Backend:
    """A ticket store and a rate limiter opened from one URL (often one object)."""

    store: TicketStore
    limiter: RateLimiter


BackendFactory = Callable[..., Backend]


def memory_backend(url: str, *, clock: Clock | None = None, create: bool = True) -> Backend:
    """``memory://``: in-process store and limiter (``create`` is accepted: there is nothing to create)."""
    from upload_tickets.memory import MemoryRateLimiter, MemoryTicketStore

    return Backend(store=MemoryTicketStore(), limiter=MemoryRateLimiter(clock))


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise ValueError(f"not a backend URL (expected scheme://...): {url!r}")
    return scheme.lower()


def backend_from_url(url: str, **options: Any) -> Backend:
    """Open the backend a URL names, e.g. ``memory://``, ``redis://...``, ``sqlite:///x.db``."""
    scheme = _scheme(url)
    # An adapter may register a whole scheme ("redis+cluster"); otherwise the part before
    # "+" picks it and the rest names a driver ("postgresql+psycopg").
    factory = _find_factory(scheme) or _find_factory(scheme.partition("+")[0])
    if factory is None:
        base = scheme.partition("+")[0]
        distribution = _DISTRIBUTIONS.get(scheme) or _DISTRIBUTIONS.get(base)
        hint = f'pip install "{distribution}"' if distribution else "install an adapter that registers it"
        raise BackendNotInstalled(f"no upload-tickets backend for {scheme}:// is installed; {hint}")
    return factory(url, **options)


def store_from_url(url: str, **options: Any) -> TicketStore:
    """The ticket store of :func:`backend_from_url`."""
    return backend_from_url(url, **options).store


def _find_factory(scheme: str) -> BackendFactory | None:
    if scheme == "memory":
        return memory_backend
    for entry_point in entry_points(group=ENTRY_POINT_GROUP, name=scheme):
        factory: BackendFactory = entry_point.load()
        return factory
    return None
