"""Where SQLAlchemy's asyncio extension differs from its sync engine by nature; ``_sync/_primitives.py`` is the twin.

Hand-written on both sides: everything else in ``_async`` is turned into its sync twin
line by line. The statements themselves are sync SQLAlchemy code in both flavours, and
both hold sync ``Engine`` objects: the async flavour's run over an asyncio driver, the
code run in a greenlet as SQLAlchemy's own ``AsyncConnection.run_sync`` does; SQLite's
runs on sqlite3 on a thread of its own, which measured faster than aiosqlite
(``benchmarks/sql_drivers.py``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import sqlalchemy as sa

from upload_tickets.backend_kit import shielded

if TYPE_CHECKING:
    # Imported when used: SQLAlchemy's asyncio extension needs greenlet, which SQLite's path does not.
    from sqlalchemy.ext.asyncio import AsyncEngine

_T = TypeVar("_T")

#: What the backend takes: an engine of this flavour, or the sync engine inside one.
AnyEngine: TypeAlias = "AsyncEngine | sa.Engine"

#: Whether this flavour's engines run on an asyncio driver (SQLite's excepted, see :class:`Driver`).
ASYNC_FLAVOUR = True


def create_engine(url: sa.URL, **options: Any) -> sa.Engine:
    """The sync engine this flavour runs on: inside an ``AsyncEngine``, or sqlite3's own for SQLite."""
    if url.get_backend_name() == "sqlite" and url.get_driver_name() == "pysqlite":
        return sa.create_engine(url, **options)
    from sqlalchemy.ext.asyncio import create_async_engine  # ImportError without greenlet

    return create_async_engine(url, **options).sync_engine


def as_sync_engine(engine: AnyEngine) -> sa.Engine:
    """The sync engine inside ``engine`` (or ``engine`` itself)."""
    return engine if isinstance(engine, sa.Engine) else engine.sync_engine


class Driver:
    """Runs sync SQLAlchemy or driver code against one engine, to its end even if the caller is cancelled.

    Over an asyncio driver the code runs in a greenlet on the loop. Over a sync driver
    (SQLite's sqlite3) it runs on a thread of the engine's own, one call at a time, as
    SQLite admits one writer anyway. Either way a statement is never cut off by a
    cancellation: cut off, it would leave its connection mid-protocol and its outcome
    unknown; run to its reply, the connection goes back to the pool clean and the
    transaction has committed or rolled back. The caller gets its cancellation then,
    bounded by the statement's own timeouts.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._on_loop = engine.dialect.is_async
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None

    async def __call__(self, function: Callable[..., _T], *args: Any) -> _T:
        """``function(*args)``, run where this engine's driver runs."""
        if self._on_loop:
            from sqlalchemy.util import greenlet_spawn  # needs greenlet: only asyncio drivers do

            return await shielded(greenlet_spawn, function, *args)
        if self._thread is None:
            self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="upload-tickets-sqlite")
        return await shielded(asyncio.wrap_future, self._thread.submit(function, *args))

    def close(self) -> None:
        """Let the engine's thread end (a later call starts another)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.shutdown(wait=False)


async def sleep(seconds: float) -> None:
    """Pause between attempts without holding the loop."""
    await asyncio.sleep(seconds)


def run_setup(function: Callable[..., Awaitable[_T]], *args: Any) -> _T:
    """Run a setup step (a migration) to its end from plain code, even inside a running loop.

    The step gets its own loop on a worker thread, so a caller starting up under an event
    loop (a lifespan, ``async_backend_from_url(..., create=True)``) can still block on it;
    whatever it opened on that loop must be closed before it returns.
    """
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="upload-tickets-setup") as worker:
        return worker.submit(asyncio.run, _awaited(function, *args)).result()


async def _awaited(function: Callable[..., Awaitable[_T]], *args: Any) -> _T:
    return await function(*args)
