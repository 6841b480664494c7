"""Several OS processes racing on one database: one consume winner, no over-admission."""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.synchronize import Barrier

import attrs

from tests.support import make_signer
from upload_tickets import (
    CHARACTERS_POST,
    AlreadyConsumed,
    MemoryBlobStore,
    MemoryRateLimiter,
    State,
    SystemClock,
    Team,
    UploadTickets,
)
from upload_tickets.testing import make_ticket
from upload_tickets_sql import open_backend

WORKERS = 8
ROUNDS = 15
_spawn = multiprocessing.get_context("spawn")


def _consumer(
    url: str, jobs: multiprocessing.Queue[list[str] | None], results: multiprocessing.Queue[str], barrier: Barrier
) -> None:
    backend = open_backend(url)
    service = UploadTickets(
        store=backend, limiter=MemoryRateLimiter(), signer=make_signer(), blobs=MemoryBlobStore(), clock=SystemClock()
    )
    while (ids := jobs.get()) is not None:
        barrier.wait()
        try:
            results.put(service.consume(Team("racers"), ids).id)
        except AlreadyConsumed:
            results.put("lost")
        except Exception as error:
            results.put(f"error: {error!r}")
    backend.dispose()


def test_processes_racing_to_consume_six_tickets_have_one_winner(sql_url: str) -> None:
    backend = open_backend(sql_url)
    jobs = [_spawn.Queue() for _ in range(WORKERS)]
    results = _spawn.Queue()
    barrier = _spawn.Barrier(WORKERS)
    workers = [_spawn.Process(target=_consumer, args=(sql_url, q, results, barrier)) for q in jobs]
    for worker in workers:
        worker.start()
    try:
        now = SystemClock().now_us()
        for _ in range(ROUNDS):
            tickets = [
                attrs.evolve(make_ticket(team="racers", now_us=now), state=State.UPLOADED, size=10) for _ in range(6)
            ]
            for ticket in tickets:
                backend.create(ticket)
            ids = [t.id for t in tickets]
            for queue in jobs:
                queue.put(ids)
            outcomes = [results.get(timeout=60) for _ in range(WORKERS)]
            winners = [o for o in outcomes if o.startswith("chr_")]
            assert len(winners) == 1, outcomes
            assert outcomes.count("lost") == WORKERS - 1, outcomes
            stored = backend.get_many("racers", ids)
            assert {t.character_id for t in stored if t is not None} == {winners[0]}
            assert all(t is not None and t.state is State.CONSUMED for t in stored)
    finally:
        for queue in jobs:
            queue.put(None)
        for worker in workers:
            worker.join(timeout=30)
        backend.dispose()
    assert all(worker.exitcode == 0 for worker in workers)


def _hammer(url: str, key: str, calls: int, barrier: Barrier, results: multiprocessing.Queue[int]) -> None:
    backend = open_backend(url)
    barrier.wait()
    admitted = sum(backend.acquire(key, CHARACTERS_POST).allowed for _ in range(calls))
    results.put(admitted)
    backend.dispose()


def test_processes_hammering_one_bucket_never_over_admit(sql_url: str) -> None:
    key = f"hammer-{time.time_ns()}"
    results = _spawn.Queue()
    barrier = _spawn.Barrier(WORKERS + 1)
    workers = [_spawn.Process(target=_hammer, args=(sql_url, key, 40, barrier, results)) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    # Timed from before the start signal, so every admission falls inside the window.
    started = time.monotonic()
    barrier.wait()
    admitted = sum(results.get(timeout=120) for _ in range(WORKERS))
    elapsed = time.monotonic() - started
    for worker in workers:
        worker.join(timeout=30)
    interval_s = CHARACTERS_POST.emission_interval_us / 1_000_000
    assert 60 <= admitted <= 60 + int(elapsed / interval_s), (admitted, elapsed)
