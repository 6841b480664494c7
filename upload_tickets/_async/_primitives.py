"""The few pieces the async flavour does by nature; ``_sync/_primitives.py`` is their sync twin.

Hand-written on both sides (httpcore's ``_synchronization`` style): everything else in
``_async`` is turned into its sync twin line by line.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, TypeAlias, TypeVar, cast

import anyio
import anyio.to_thread

from upload_tickets._identity import RequestContext
from upload_tickets._models import Team

if TYPE_CHECKING:
    from upload_tickets.protocols import AsyncTeamDirectory, AsyncTeamResolver, TeamDirectory, TeamResolver

#: What ``AsyncHttpApi`` takes as its team resolver: either flavour of resolver or API-key directory.
TeamSource: TypeAlias = "AsyncTeamResolver | AsyncTeamDirectory | TeamResolver | TeamDirectory"

T = TypeVar("T")


async def offload(function: Callable[..., T], *args: object) -> T:
    """Run a blocking call (a file write, an image decode) on a worker thread.

    A cancelled caller still waits for the thread to finish (see :func:`shielded`), so
    nothing runs on after the caller's cleanup.
    """
    return await shielded(anyio.to_thread.run_sync, function, *args)


async def shielded(function: Callable[..., Awaitable[T]], *args: object) -> T:
    """Run ``function(*args)`` to its end even if the caller is cancelled meanwhile.

    For steps that must not stop halfway (a write whose outcome decides the cleanup, the
    cleanup itself). The step runs as its own task, so its own timeouts still apply to
    it, while neither an anyio cancel scope nor a native ``Task.cancel()``
    (``asyncio.timeout``, ``wait_for``) on the caller interrupts it; the caller's
    cancellation is delivered once the step has finished.
    """
    task = asyncio.ensure_future(function(*args))
    cancelled: BaseException | None = None
    with anyio.CancelScope(shield=True):
        while True:
            try:
                result = await asyncio.shield(task)
                break
            except asyncio.CancelledError as error:
                cancelled = error
                if task.done():
                    result = task.result()
                    break
    if cancelled is not None:
        raise cancelled
    return result


def as_resolver(teams: TeamSource) -> AsyncTeamResolver:
    """An async resolver from any resolver or key directory.

    A sync one runs on a worker thread: it may block (a database lookup), and the event
    loop must not. Give an async resolver or directory to stay on the loop.
    """
    from upload_tickets._async.auth import AsyncApiKeyResolver

    if inspect.iscoroutinefunction(getattr(teams, "resolve", None)):
        return cast("AsyncTeamResolver", teams)
    if callable(getattr(teams, "resolve", None)):
        return _ResolverOnThread(cast("TeamResolver", teams))
    if inspect.iscoroutinefunction(getattr(teams, "team_for_key", None)):
        return AsyncApiKeyResolver(cast("AsyncTeamDirectory", teams))
    return AsyncApiKeyResolver(_DirectoryOnThread(cast("TeamDirectory", teams)))


class _ResolverOnThread:
    def __init__(self, resolver: TeamResolver) -> None:
        self.resolver = resolver
        self.header_credentials = header_credentials(resolver)

    async def resolve(self, request: RequestContext) -> Team:
        return await offload(self.resolver.resolve, request)


class _DirectoryOnThread:
    def __init__(self, directory: TeamDirectory) -> None:
        self.directory = directory

    async def team_for_key(self, api_key: str) -> Team | None:
        return await offload(self.directory.team_for_key, api_key)


def header_credentials(resolver: object) -> bool:
    """Whether ``resolver`` declares it reads only credentials a browser never sends by itself.

    Such credentials (``X-Api-Key``, ``Authorization: Bearer``) cannot be borrowed by a
    forged cross-site request, so adapters may exempt its routes from CSRF checks; a
    resolver that reads cookies or sessions must not declare it (the default).
    """
    return getattr(resolver, "header_credentials", False) is True


#: A request body as an embedder holds it: whole, a list of chunks, or a stream.
Body: TypeAlias = "bytes | Iterable[bytes] | AsyncIterable[bytes]"


def chunks_of(body: Body) -> AsyncIterable[bytes]:
    """A body as async chunks, whether it came whole, as a list of chunks or streamed."""
    if isinstance(body, bytes):
        return _each([body])
    if isinstance(body, AsyncIterable):
        return body
    return _each(body)


async def _each(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


__all__ = ["Body", "TeamSource", "as_resolver", "chunks_of", "header_credentials", "offload", "shielded"]
