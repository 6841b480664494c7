"""Backends by URL scheme, found through the ``upload_tickets.backends`` entry points.

An adapter distribution registers ``scheme = "package.module:factory"``; the factory takes
the URL and keyword options and returns a :class:`Backend`. Imports are lazy: nothing of
an adapter (or its driver) is loaded until a URL asks for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any, cast

import attrs

from upload_tickets._errors import BackendNotInstalled, ConfigurationError
from upload_tickets.protocols import AsyncRateLimiter, AsyncTicketStore, Clock, RateLimiter, TicketStore

ENTRY_POINT_GROUP = "upload_tickets.backends"

# Where each well-known scheme's adapter lives in the upload-tickets repository: the
# adapters are not on PyPI, so the hint is a command that works from a checkout.
_ADAPTER_DIRS = {
    "redis": "backends/redis",
    "rediss": "backends/redis",
    "unix": "backends/redis",
    "redis+cluster": "backends/redis",
    "rediss+cluster": "backends/redis",
    "sqlite": "backends/sql",
    "postgresql": "backends/sql",
    "postgres": "backends/sql",
    "mysql": "backends/sql",
    "mariadb": "backends/sql",
}


@attrs.frozen
class Backend:
    """A ticket store and a rate limiter opened from one URL (often one object)."""

    store: TicketStore
    limiter: RateLimiter


@attrs.frozen
class AsyncBackend:
    """An async ticket store and rate limiter opened from one URL (often one object)."""

    store: AsyncTicketStore
    limiter: AsyncRateLimiter


BackendFactory = Callable[..., Backend]
AsyncBackendFactory = Callable[..., AsyncBackend]


def memory_backend(url: str, *, clock: Clock | None = None, create: bool = True) -> Backend:
    """``memory://``: in-process store and limiter (``create`` is accepted: there is nothing to create).

    Without ``clock`` the limiter follows the clock of the service it is given to.
    """
    from upload_tickets.memory import MemoryRateLimiter, MemoryTicketStore

    return Backend(store=MemoryTicketStore(), limiter=MemoryRateLimiter(clock))


def async_memory_backend(url: str, *, clock: Clock | None = None, create: bool = True) -> AsyncBackend:
    """``memory://``, async flavour (see :func:`memory_backend`)."""
    from upload_tickets.memory import AsyncMemoryRateLimiter, AsyncMemoryTicketStore

    return AsyncBackend(store=AsyncMemoryTicketStore(), limiter=AsyncMemoryRateLimiter(clock))


def _split_scheme(url: str) -> tuple[str, str]:
    if not isinstance(url, str):
        raise ConfigurationError(f"a backend URL is a string, got {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        raise ConfigurationError(f"not a backend URL (expected scheme://..., e.g. memory:// or redis://host): {url!r}")
    return scheme.lower(), rest


def backend_from_url(url: str, **options: Any) -> Backend:
    """Open the backend a URL names, e.g. ``memory://``, ``redis://...``, ``sqlite:///x.db``.

    Schemes are case-insensitive; the adapter receives the URL with its scheme in lower
    case. ``clock=`` is for in-process backends; networked ones keep their server's time.
    """
    scheme, rest = _split_scheme(url)
    entry_point = _find_entry_point(scheme)
    if entry_point is None:
        raise _not_installed(scheme)
    factory: BackendFactory = entry_point.load()
    return factory(f"{scheme}://{rest}", **options)


def async_backend_from_url(url: str, **options: Any) -> AsyncBackend:
    """:func:`backend_from_url`, async flavour: the adapter's async backend.

    An adapter names its async factory ``async_<factory>`` next to the sync one (e.g.
    ``upload_tickets_redis:async_backend_from_url``). One that has none is run through
    :mod:`upload_tickets.threaded`, each call on a worker thread: correct, but slower.
    """
    scheme, rest = _split_scheme(url)
    entry_point = _find_entry_point(scheme)
    if entry_point is None:
        raise _not_installed(scheme)
    url = f"{scheme}://{rest}"
    module = importlib.import_module(entry_point.module)
    async_factory: AsyncBackendFactory | None = getattr(module, f"async_{entry_point.attr}", None)
    if async_factory is not None:
        return async_factory(url, **options)
    from upload_tickets.threaded import threaded_limiter, threaded_store

    backend: Backend = entry_point.load()(url, **options)
    store = threaded_store(backend.store)
    # One object that is store and limiter stays one, so a mint stays one round trip.
    limiter = store if backend.limiter is cast(object, backend.store) else threaded_limiter(backend.limiter)
    return AsyncBackend(store=store, limiter=cast(AsyncRateLimiter, limiter))


def _find_entry_point(scheme: str) -> EntryPoint | None:
    # An adapter may register a whole scheme ("redis+cluster"); otherwise the part before
    # "+" picks it and the rest names a driver ("postgresql+psycopg"). memory:// too is
    # an entry point (the core's own pyproject registers it): one way in.
    for name in (scheme, scheme.partition("+")[0]):
        for entry_point in entry_points(group=ENTRY_POINT_GROUP, name=name):
            return entry_point
    return None


def _not_installed(scheme: str) -> BackendNotInstalled:
    base = scheme.partition("+")[0]
    adapter = _ADAPTER_DIRS.get(scheme) or _ADAPTER_DIRS.get(base)
    hint = (
        f"install its adapter from a checkout of upload-tickets: pip install ./{adapter}"
        if adapter
        else "install an adapter that registers it under the upload_tickets.backends entry points"
    )
    return BackendNotInstalled(f"no upload-tickets backend for {scheme}:// is installed; {hint}")


def store_from_url(url: str, **options: Any) -> TicketStore:
    """The ticket store of :func:`backend_from_url`."""
    return backend_from_url(url, **options).store
