"""The sync twins of ``_async/_primitives.py``: a direct call, a scope that does nothing."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeAlias, TypeVar, cast

from upload_tickets._errors import ConfigurationError

if TYPE_CHECKING:
    from upload_tickets.protocols import TeamDirectory, TeamResolver

#: What ``HttpApi`` takes as its team resolver: a sync resolver or API-key directory.
TeamSource: TypeAlias = "TeamResolver | TeamDirectory"

T = TypeVar("T")


def offload(function: Callable[..., T], *args: object) -> T:
    """Call ``function`` right here: the sync flavour already runs on the caller's thread."""
    return function(*args)


def shielded(function: Callable[..., T], *args: object) -> T:
    """Call ``function`` right here: sync code is not cancelled halfway."""
    return function(*args)


def as_resolver(teams: TeamSource) -> TeamResolver:
    """A resolver from a resolver or an API-key directory (both sync)."""
    from upload_tickets._sync.auth import ApiKeyResolver

    awaits = inspect.iscoroutinefunction(getattr(teams, "resolve", None)) or inspect.iscoroutinefunction(
        getattr(teams, "team_for_key", None)
    )
    if awaits:
        raise ConfigurationError("an async team resolver or directory needs AsyncHttpApi (HttpApi is the sync flavour)")
    if callable(getattr(teams, "resolve", None)):
        return cast("TeamResolver", teams)
    return ApiKeyResolver(cast("TeamDirectory", teams))


def header_credentials(resolver: object) -> bool:
    """Whether ``resolver`` declares it reads only credentials a browser never sends by itself (see the async twin)."""
    return getattr(resolver, "header_credentials", False) is True


#: A request body as an embedder holds it: whole, or its chunks.
Body: TypeAlias = "bytes | Iterable[bytes]"


def chunks_of(body: Body) -> Iterable[bytes]:
    """A body as chunks, whether it came whole or streamed."""
    return [body] if isinstance(body, bytes) else body


__all__ = ["Body", "TeamSource", "as_resolver", "chunks_of", "header_credentials", "offload", "shielded"]
