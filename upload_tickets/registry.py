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

from upload_tickets._errors import BackendNotInstalled, ConfigurationError
from upload_tickets.protocols import Clock, RateLimiter, TicketStore

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


BackendFactory = Callable[..., Backend]


def memory_backend(url: str, *, clock: Clock | None = None, create: bool = True) -> Backend:
    """``memory://``: in-process store and limiter (``create`` is accepted: there is nothing to create).

    Without ``clock`` the limiter follows the clock of the service it is given to.
    """
    from upload_tickets.memory import MemoryRateLimiter, MemoryTicketStore

    return Backend(store=MemoryTicketStore(), limiter=MemoryRateLimiter(clock))


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
    # An adapter may register a whole scheme ("redis+cluster"); otherwise the part before
    # "+" picks it and the rest names a driver ("postgresql+psycopg").
    base = scheme.partition("+")[0]
    factory = _find_factory(scheme) or _find_factory(base)
    if factory is None:
        adapter = _ADAPTER_DIRS.get(scheme) or _ADAPTER_DIRS.get(base)
        hint = (
            f"install its adapter from a checkout of upload-tickets: pip install ./{adapter}"
            if adapter
            else "install an adapter that registers it under the upload_tickets.backends entry points"
        )
        raise BackendNotInstalled(f"no upload-tickets backend for {scheme}:// is installed; {hint}")
    return factory(f"{scheme}://{rest}", **options)


def store_from_url(url: str, **options: Any) -> TicketStore:
    """The ticket store of :func:`backend_from_url`."""
    return backend_from_url(url, **options).store


def _find_factory(scheme: str) -> BackendFactory | None:
    # memory:// too is an entry point (the core's own pyproject registers it): one way in.
    for entry_point in entry_points(group=ENTRY_POINT_GROUP, name=scheme):
        factory: BackendFactory = entry_point.load()
        return factory
    return None
