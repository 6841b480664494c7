"""Races between OS processes, for any backend: one consume winner, no over-admission.

``open_backend`` must be importable by child processes (a module-level function, or a
``functools.partial`` of one), because workers are spawned, not forked. It returns an
object that is both the ticket store and the rate limiter, as backends opened by URL are;
the harness closes what it opened with its ``dispose()`` or ``close()`` method, if any.

:func:`async_consume_race` and :func:`async_bucket_hammer` are the same races with async
workers: each process runs one event loop with several tasks racing at once on an
``AsyncUploadTickets``, over the :class:`~upload_tickets.AsyncBackend` that
``open_async_backend()`` returns (say, ``functools.partial(async_backend_from_url, url)``);
it is closed with ``aclose()``, or, for a worker-thread wrapper, through what it wraps.
Each worker makes one call before the start signal, so the race starts on a connected
client (a fresh redis-py Cluster client trips over its own start-up when its first
commands come at once: ``tests/redis/test_async_races.py``).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from multiprocessing.synchronize import Barrier
from typing import Any

import attrs

from upload_tickets._errors import AlreadyConsumed, RateLimited
from upload_tickets._models import MintRequest, State, Team, UploadTicket
from upload_tickets._policy import CHARACTERS_POST, SPEC_RATES, RateTable
from upload_tickets.clock import SystemClock
from upload_tickets.files import AsyncFileBlobStore, FileBlobStore
from upload_tickets.memory import AsyncMemoryBlobStore, MemoryBlobStore
from upload_tickets.registry import AsyncBackend
from upload_tickets.service import AsyncUploadTickets, UploadTickets
from upload_tickets.signing import HmacSigner
from upload_tickets.testing._fixtures import image_bytes, make_ticket

OpenBackend = Callable[[], Any]
OpenAsyncBackend = Callable[[], AsyncBackend]
_spawn = multiprocessing.get_context("spawn")
# make_ticket makes JPEG tickets; consume checks their bytes are one.
_JPEG = image_bytes("image/jpeg")


class _SkewedClock:
    """The system clock off by a fixed amount: an app server with a wrong clock."""

    def __init__(self, skew_us: int) -> None:
        self._skew = skew_us

    def now_us(self) -> int:
        return time.time_ns() // 1000 + self._skew


def _service(
    open_backend: OpenBackend, skew_us: int = 0, blob_root: str | None = None, rates: RateTable = SPEC_RATES
) -> UploadTickets:
    backend = open_backend()
    return UploadTickets(
        store=backend,
        limiter=backend,
        signer=HmacSigner("http://127.0.0.1/uploads", {"race": b"r" * 32}, "race"),
        # Consumers share the uploads' bytes on disk: the winner copies them to its character.
        blobs=MemoryBlobStore() if blob_root is None else FileBlobStore(blob_root, fsync=False),
        clock=_SkewedClock(skew_us),
        rates=rates,
    )


def _consumer(
    open_backend: OpenBackend,
    blob_root: str,
    jobs: multiprocessing.Queue[list[str] | None],
    results: multiprocessing.Queue[str],
    barrier: Barrier,
) -> None:
    # The race is about atomic consumes, not rate limits: 8 racers x 15 rounds would empty the bucket.
    service = _service(open_backend, blob_root=blob_root, rates=RateTable(consume=None))
    while (ids := jobs.get()) is not None:
        barrier.wait()
        try:
            results.put(service.consume(Team("racers"), ids).character.id)
        except AlreadyConsumed:
            results.put("lost")
        except Exception as error:
            results.put(f"error: {error!r}")


def consume_race(open_backend: OpenBackend, *, workers: int = 8, rounds: int = 15) -> None:
    """``workers`` processes consume the same 6 uploaded tickets, ``rounds`` times: one wins each round."""
    store = open_backend()
    blob_root = tempfile.mkdtemp(prefix="consume-race-")
    blobs = FileBlobStore(blob_root, fsync=False)
    jobs: list[multiprocessing.Queue[list[str] | None]] = [_spawn.Queue() for _ in range(workers)]
    results: multiprocessing.Queue[str] = _spawn.Queue()
    barrier = _spawn.Barrier(workers)
    processes = [_spawn.Process(target=_consumer, args=(open_backend, blob_root, q, results, barrier)) for q in jobs]
    for process in processes:
        process.start()
    try:
        now = SystemClock().now_us()
        for _ in range(rounds):
            tickets = [
                attrs.evolve(make_ticket(team="racers", now_us=now), state=State.UPLOADED, size=len(_JPEG))
                for _ in range(6)
            ]
            for ticket in tickets:
                store.create(ticket)
                blobs.put(ticket.blob_key, [_JPEG], max_bytes=len(_JPEG), content_type=ticket.content_type)
            ids = [t.id for t in tickets]
            for queue in jobs:
                queue.put(ids)
            outcomes = [results.get(timeout=60) for _ in range(workers)]
            winners = [o for o in outcomes if o.startswith("chr_")]
            assert len(winners) == 1, outcomes
            assert outcomes.count("lost") == workers - 1, outcomes
            owners = {t.character_id for t in store.get_many("racers", ids) if t is not None}
            assert owners == {winners[0]}, owners
    finally:
        for queue in jobs:
            queue.put(None)
        for process in processes:
            process.join(timeout=30)
        _close(store)
        shutil.rmtree(blob_root, ignore_errors=True)
    assert all(process.exitcode == 0 for process in processes)


def _close(backend: Any) -> None:
    for name in ("dispose", "close"):
        method = getattr(backend, name, None)
        if callable(method):
            method()
            return


def _minter(
    open_backend: OpenBackend, skew_us: int, calls: int, barrier: Barrier, results: multiprocessing.Queue[int]
) -> None:
    service = _service(open_backend, skew_us)
    request = MintRequest("f.png", "png", "image/png")
    barrier.wait()
    admitted = 0
    for _ in range(calls):
        try:
            service.mint(Team("hammered"), request)
            admitted += 1
        except RateLimited:
            pass
    results.put(admitted)
    _close(service.store)


def bucket_hammer(open_backend: OpenBackend, *, skews_us: Sequence[int] = (0,) * 8, calls: int = 40) -> None:
    """One process per skew mints for one team as fast as it can; admissions never beat the bucket.

    The spec's bucket admits at most 60 + elapsed / 2 s, whatever the app servers' clocks say.
    """
    _hammer(_minter, [(open_backend, skew, calls) for skew in skews_us])


def _hammer(minter: Callable[..., None], worker_args: Sequence[tuple[object, ...]]) -> None:
    """Start one ``minter(*args, barrier, results)`` process per entry at once; check the bucket admitted its due."""
    results: multiprocessing.Queue[int] = _spawn.Queue()
    barrier = _spawn.Barrier(len(worker_args) + 1)
    processes = [_spawn.Process(target=minter, args=(*args, barrier, results)) for args in worker_args]
    for process in processes:
        process.start()
    # Timed from before the start signal, so every admission falls inside the window.
    started = time.monotonic()
    barrier.wait()
    admitted = sum(results.get(timeout=120) for _ in processes)
    elapsed = time.monotonic() - started
    for process in processes:
        process.join(timeout=30)
    assert all(process.exitcode == 0 for process in processes)
    interval_s = CHARACTERS_POST.emission_interval_us / 1_000_000
    assert CHARACTERS_POST.burst <= admitted <= CHARACTERS_POST.burst + int(elapsed / interval_s), (admitted, elapsed)


# Async workers: one event loop per process, several tasks racing on it.


def _async_service(
    backend: AsyncBackend, skew_us: int = 0, blob_root: str | None = None, rates: RateTable = SPEC_RATES
) -> AsyncUploadTickets:
    return AsyncUploadTickets(
        store=backend.store,
        limiter=backend.limiter,
        signer=HmacSigner("http://127.0.0.1/uploads", {"race": b"r" * 32}, "race"),
        blobs=AsyncMemoryBlobStore() if blob_root is None else AsyncFileBlobStore(blob_root, fsync=False),
        clock=_SkewedClock(skew_us),
        rates=rates,
    )


async def _warm_up(backend: AsyncBackend) -> None:
    """One call alone, before the race: the client connects (and learns a Cluster's slots) first."""
    await backend.store.get("racers", "upl_01HXMQ7Z3K8Y2NABCDEFGHJKMR")


async def _aclose(backend: AsyncBackend) -> None:
    """Close what ``open_async_backend()`` opened: ``aclose()``, or the sync backend a worker-thread wrapper wraps."""
    for part in {id(backend.store): backend.store, id(backend.limiter): backend.limiter}.values():
        method = getattr(part, "aclose", None)
        if callable(method):
            await method()
            continue
        inner = getattr(part, "inner", None)
        _close(part if inner is None else inner)


def _async_consumer(
    open_async_backend: OpenAsyncBackend,
    blob_root: str,
    tasks: int,
    jobs: multiprocessing.Queue[list[str] | None],
    results: multiprocessing.Queue[str],
    barrier: Barrier,
) -> None:
    asyncio.run(_consume_rounds(open_async_backend, blob_root, tasks, jobs, results, barrier))


async def _consume_rounds(
    open_async_backend: OpenAsyncBackend,
    blob_root: str,
    tasks: int,
    jobs: multiprocessing.Queue[list[str] | None],
    results: multiprocessing.Queue[str],
    barrier: Barrier,
) -> None:
    backend = open_async_backend()
    # As in the sync race: the race is about atomic consumes, not rate limits.
    service = _async_service(backend, blob_root=blob_root, rates=RateTable(consume=None))
    try:
        await _warm_up(backend)
        # The queue and the barrier block: they are waited on by a worker thread, off the loop.
        while (ids := await asyncio.to_thread(jobs.get)) is not None:
            await asyncio.to_thread(barrier.wait)
            for outcome in await asyncio.gather(*(_consume_once(service, ids) for _ in range(tasks))):
                results.put(outcome)
    finally:
        await _aclose(backend)


async def _consume_once(service: AsyncUploadTickets, ids: list[str]) -> str:
    try:
        return (await service.consume(Team("racers"), ids)).character.id
    except AlreadyConsumed:
        return "lost"
    except Exception as error:
        return f"error: {error!r}"


def async_consume_race(
    open_async_backend: OpenAsyncBackend, *, processes: int = 3, tasks: int = 4, rounds: int = 10
) -> None:
    """``processes`` x ``tasks`` async consumers take the same 6 uploaded tickets, ``rounds`` times; one wins each.

    Each process's tasks race on one event loop (and so on one connection pool), the
    processes race each other.
    """
    asyncio.run(_async_consume_race(open_async_backend, processes, tasks, rounds))


async def _async_consume_race(open_async_backend: OpenAsyncBackend, processes: int, tasks: int, rounds: int) -> None:
    backend = open_async_backend()
    blob_root = tempfile.mkdtemp(prefix="async-consume-race-")
    blobs = AsyncFileBlobStore(blob_root, fsync=False)
    jobs: list[multiprocessing.Queue[list[str] | None]] = [_spawn.Queue() for _ in range(processes)]
    results: multiprocessing.Queue[str] = _spawn.Queue()
    barrier = _spawn.Barrier(processes)
    workers = [
        _spawn.Process(target=_async_consumer, args=(open_async_backend, blob_root, tasks, queue, results, barrier))
        for queue in jobs
    ]
    for worker in workers:
        worker.start()
    racers = processes * tasks
    try:
        now = SystemClock().now_us()
        for _ in range(rounds):
            tickets = [
                attrs.evolve(make_ticket(team="racers", now_us=now), state=State.UPLOADED, size=len(_JPEG))
                for _ in range(6)
            ]
            for ticket in tickets:
                await backend.store.create(ticket)
                await blobs.put(ticket.blob_key, _chunks(_JPEG), max_bytes=len(_JPEG), content_type=ticket.content_type)
            ids = [t.id for t in tickets]
            for queue in jobs:
                queue.put(ids)
            outcomes = [await asyncio.to_thread(results.get, timeout=60) for _ in range(racers)]
            winners = [o for o in outcomes if o.startswith("chr_")]
            assert len(winners) == 1, outcomes
            assert outcomes.count("lost") == racers - 1, outcomes
            stored: list[UploadTicket | None] = await backend.store.get_many("racers", ids)
            owners = {t.character_id for t in stored if t is not None}
            assert owners == {winners[0]}, owners
    finally:
        for queue in jobs:
            queue.put(None)
        for worker in workers:
            await asyncio.to_thread(worker.join, 30)
        await _aclose(backend)
        shutil.rmtree(blob_root, ignore_errors=True)
    assert all(worker.exitcode == 0 for worker in workers)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _async_minter(
    open_async_backend: OpenAsyncBackend,
    skew_us: int,
    tasks: int,
    calls: int,
    barrier: Barrier,
    results: multiprocessing.Queue[int],
) -> None:
    asyncio.run(_mint_hard(open_async_backend, skew_us, tasks, calls, barrier, results))


async def _mint_hard(
    open_async_backend: OpenAsyncBackend,
    skew_us: int,
    tasks: int,
    calls: int,
    barrier: Barrier,
    results: multiprocessing.Queue[int],
) -> None:
    backend = open_async_backend()
    service = _async_service(backend, skew_us)
    request = MintRequest("f.png", "png", "image/png")

    async def mint_all() -> int:
        admitted = 0
        for _ in range(calls):
            try:
                await service.mint(Team("hammered"), request)
                admitted += 1
            except RateLimited:
                pass
        return admitted

    try:
        await _warm_up(backend)
        await asyncio.to_thread(barrier.wait)
        results.put(sum(await asyncio.gather(*(mint_all() for _ in range(tasks)))))
    finally:
        await _aclose(backend)


def async_bucket_hammer(
    open_async_backend: OpenAsyncBackend, *, skews_us: Sequence[int] = (0,) * 4, tasks: int = 4, calls: int = 10
) -> None:
    """:func:`bucket_hammer` with async workers: one process per skew, ``tasks`` minting at once in each.

    Give more attempts in all (``len(skews_us) * tasks * calls``) than the bucket's burst,
    so the limit is reached.
    """
    _hammer(_async_minter, [(open_async_backend, skew, tasks, calls) for skew in skews_us])
