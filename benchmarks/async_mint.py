"""Mints per second in one process on Redis or PostgreSQL: async tasks next to sync threads.

The async facade (``AsyncUploadTickets``) with 1, 16 and 128 concurrent tasks on one
event loop, next to the sync facade (``UploadTickets``) with as many threads, in
alternating rounds against the same store, for the same team, with a bucket that never
refuses. The async side uses whatever ``async_backend_from_url`` gives for the URL: the
adapter's own async backend (redis.asyncio, SQLAlchemy asyncio) when it ships one, else
the sync backend on worker threads (``upload_tickets.threaded``); :func:`run` says which.
With a native backend, a last figure puts the worker-thread fallback next to it.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from typing import Any, cast

import anyio

from benchmarks._harness import Figure, bench_async_service, bench_service, throughput_figure
from benchmarks.mint_sql import POSTGRES_URL
from benchmarks.redis_bench import REDIS_URL
from upload_tickets import (
    AsyncBackend,
    AsyncUploadTickets,
    Backend,
    MintRequest,
    Team,
    UploadTickets,
    async_backend_from_url,
    backend_from_url,
)
from upload_tickets.protocols import AsyncRateLimiter
from upload_tickets.threaded import ThreadedTicketStore, threaded_store

CONCURRENCY = (1, 16, 128)
#: PostgreSQL with no driver named: each flavour runs on its default (psycopg sync, asyncpg async).
PG_URL = "postgresql://" + POSTGRES_URL.partition("://")[2]
#: The stores this benchmark runs on: name -> (URL, options of both factories).
TARGETS: dict[str, tuple[str, dict[str, object]]] = {
    "Redis": (REDIS_URL, {"prefix": "bench-async"}),
    "PostgreSQL": (PG_URL, {"create": True}),
}
_TEAM = Team("bench")
_REQUEST = MintRequest(filename="front-portrait.jpg", extension="jpg", content_type="image/jpeg")


def _threads_rate(service: UploadTickets, threads: int, seconds: float) -> float:
    """Mints per second of ``threads`` threads minting as fast as they can for ``seconds``."""
    counts = [0] * threads
    ready = threading.Barrier(threads + 1)
    window: list[float] = []

    def work(index: int) -> None:
        ready.wait()
        deadline, done = window[0], 0
        while done == 0 or time.perf_counter() < deadline:  # one, however short the window
            service.mint(_TEAM, _REQUEST)
            done += 1
        counts[index] = done

    workers = [threading.Thread(target=work, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    start = time.perf_counter()
    window.append(start + seconds)
    ready.wait()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - start)


async def _tasks_rate(service: AsyncUploadTickets, tasks: int, seconds: float) -> float:
    """Mints per second of ``tasks`` tasks on this event loop, minting as fast as they can for ``seconds``."""
    counts: list[int] = []
    start = time.perf_counter()
    deadline = start + seconds

    async def work() -> None:
        done = 0
        while done == 0 or time.perf_counter() < deadline:  # one, however short the window
            await service.mint(_TEAM, _REQUEST)
            done += 1
        counts.append(done)

    async with anyio.create_task_group() as group:
        for _ in range(tasks):
            group.start_soon(work)
    return sum(counts) / (time.perf_counter() - start)


def _clear_and_close(backend: Backend) -> None:
    store: Any = backend.store
    store.clear()
    store.close()


async def _close(backend: AsyncBackend) -> None:
    store: object = backend.store
    if isinstance(store, ThreadedTicketStore):
        store = store.inner
    close = getattr(store, "aclose", None) or getattr(store, "close", None)
    if close is not None:
        closed = close()
        if inspect.isawaitable(closed):
            await closed


def is_native(backend: AsyncBackend) -> bool:
    """True when ``backend`` waits on the event loop, False for the worker-thread fallback."""
    return not isinstance(backend.store, ThreadedTicketStore)


def run(
    *, seconds: float, rounds: int, concurrency: tuple[int, ...] = CONCURRENCY, target: str = "Redis"
) -> tuple[list[Figure], str]:
    """One figure per concurrency (async tasks / sync threads) on ``target``, and a line naming the async backend."""
    url, options = TARGETS[target]
    sync_backend = backend_from_url(url, **options)
    cast(Any, sync_backend.store).clear()
    sync_service = bench_service(sync_backend.store, sync_backend.limiter)
    warm_s = min(seconds, 0.2)
    figures: list[Figure] = []
    with asyncio.Runner() as runner:
        # Opened inside the loop: an async client's connections belong to the loop that made them.
        async_backend = runner.run(_open_async(url, options))
        native = is_native(async_backend)
        async_service = bench_async_service(async_backend.store, async_backend.limiter)
        try:
            for count in concurrency:
                _threads_rate(sync_service, count, warm_s)  # opens the pool's connections
                runner.run(_tasks_rate(async_service, count, warm_s))
                sync_rps: list[float] = []
                async_rps: list[float] = []
                for _ in range(rounds):
                    sync_rps.append(_threads_rate(sync_service, count, seconds))
                    async_rps.append(runner.run(_tasks_rate(async_service, count, seconds)))
                figures.append(
                    throughput_figure(
                        f"async mint, {count} task{'s' if count > 1 else ''} ({target})",
                        f"sync mint, {count} thread{'s' if count > 1 else ''} ({target})",
                        async_rps,
                        sync_rps,
                        target="<= 1.5 (one loop's overhead)" if count == 1 else "<= 1.0 (tasks beat threads)",
                    )
                )
            if native:
                figures.append(_fallback_figure(runner, async_service, seconds, rounds, max(concurrency), target))
        finally:
            runner.run(_close(async_backend))
    _clear_and_close(sync_backend)
    kind = type(async_backend.store).__name__
    note = (
        f"Async mint on {target} ran on {kind} (on the event loop)."
        if native
        else f"Async mint on {target} ran on the worker-thread fallback ({kind}): "
        "the adapter installed has no async flavour."
    )
    return figures, note


async def _open_async(url: str, options: dict[str, object]) -> AsyncBackend:
    return async_backend_from_url(url, **options)


def _fallback_figure(
    runner: asyncio.Runner, native: AsyncUploadTickets, seconds: float, rounds: int, count: int, target: str
) -> Figure:
    """The worker-thread fallback (the sync backend, each call on a thread) next to the native backend."""
    url, options = TARGETS[target]
    sync_backend = backend_from_url(url, **options)
    store = threaded_store(sync_backend.store)
    # One object, store and limiter, as async_backend_from_url keeps it: one round trip per mint.
    fallback = bench_async_service(store, cast(AsyncRateLimiter, store))
    try:
        runner.run(_tasks_rate(fallback, count, min(seconds, 0.2)))
        native_rps: list[float] = []
        fallback_rps: list[float] = []
        for _ in range(rounds):
            native_rps.append(runner.run(_tasks_rate(native, count, seconds)))
            fallback_rps.append(runner.run(_tasks_rate(fallback, count, seconds)))
    finally:
        cast(Any, sync_backend.store).close()
    return throughput_figure(
        f"async mint, {count} tasks, worker threads ({target})",
        f"async mint, {count} tasks, native ({target})",
        fallback_rps,
        native_rps,
        target=">= 1 (native is faster)",
    )


if __name__ == "__main__":
    for name in TARGETS:
        found, line = run(seconds=2.0, rounds=3, target=name)
        for figure in found:
            print(figure.row())
        print(line)
