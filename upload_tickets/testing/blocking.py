"""Drive an async component from sync test code, through one long-lived event loop.

The contract suite, the rules contract and the state machine are written once, against
the sync protocols. :func:`blocking` turns an async store, limiter, blob store or
``AsyncUploadTickets`` into an object with the same method names whose calls run on
an event loop kept in a thread for the whole test session (an anyio
``BlockingPortal``). One loop, not a loop per call: pooled connections of
``redis.asyncio`` and async database drivers belong to the loop that opened them.
Calls from several threads at once (``run_at_once``) run concurrently on that loop,
so the same race tests hammer the async code paths.

    @pytest.fixture
    def store(portal):
        return blocking(AsyncMemoryTicketStore(), portal)
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal


@contextlib.contextmanager
def event_loop_thread() -> Iterator[BlockingPortal]:
    """A portal onto one asyncio event loop running in a thread until the block ends."""
    with start_blocking_portal("asyncio") as portal:
        yield portal


def _is_chunks(value: object) -> bool:
    # A request body or blob as the sync suites pass it: a non-empty list or tuple of bytes.
    return isinstance(value, list | tuple) and bool(value) and all(isinstance(item, bytes) for item in value)


async def _stream(chunks: list[bytes] | tuple[bytes, ...]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def _asyncify(value: object) -> object:
    return _stream(value) if _is_chunks(value) else value  # type: ignore[arg-type]  # _is_chunks checked the type


def _through_portal(portal: BlockingPortal, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        args = tuple(_asyncify(arg) for arg in args)
        kwargs = {name: _asyncify(value) for name, value in kwargs.items()}
        return portal.call(functools.partial(method, *args, **kwargs))

    return call


def blocking(target: Any, portal: BlockingPortal) -> Any:
    """A sync stand-in for ``target``: its coroutine methods run on ``portal``'s loop, the rest pass through.

    The stand-in has exactly the target's public attributes, so ``isinstance`` checks
    against runtime-checkable protocols (a charging store, a clock follower) answer as
    they would for a sync component with those methods. Bodies passed as lists of bytes
    become async streams.
    """
    namespace: dict[str, Any] = {"__slots__": (), "wrapped": _constant(target)}
    for name in dir(type(target)):
        if name.startswith("_") and name not in ("__len__",):
            continue
        attribute = inspect.getattr_static(target, name)
        if isinstance(attribute, property):
            namespace[name] = _forwarded(target, name)
            continue
        value = getattr(target, name)
        if inspect.iscoroutinefunction(value):
            namespace[name] = staticmethod(_through_portal(portal, value))
        elif callable(value):
            namespace[name] = staticmethod(value)
    for name, value in vars(target).items() if hasattr(target, "__dict__") else ():
        if not name.startswith("_") and name not in namespace:
            namespace[name] = _constant(_blocking_attribute(value, portal))
    proxy_type = type(f"Blocking{type(target).__name__}", (), namespace)
    return proxy_type()


def _constant(value: object) -> property:
    def get(_: object) -> object:
        return value

    return property(get)


def _forwarded(target: object, name: str) -> property:
    def get(_: object) -> object:
        return getattr(target, name)

    return property(get)


def _blocking_attribute(value: object, portal: BlockingPortal) -> object:
    # A facade's store, limiter and blobs are reached as attributes; they turn sync too.
    has_coroutines = any(
        inspect.iscoroutinefunction(getattr(value, name, None)) for name in dir(type(value)) if not name.startswith("_")
    )
    return blocking(value, portal) if has_coroutines else value


__all__ = ["blocking", "event_loop_thread"]
