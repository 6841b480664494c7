"""OS processes racing on Redis: one consume winner; skewed app clocks never over-admit."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from multiprocessing.synchronize import Barrier

import attrs

from tests.support import make_signer
from upload_tickets import (
    CHARACTERS_POST,
    AlreadyConsumed,
    MemoryBlobStore,
    MintRequest,
    RateLimited,
    State,
    SystemClock,
    Team,
    UploadTickets,
)
from upload_tickets.testing import make_ticket
from upload_tickets_redis import open_backend

WORKERS = 8
ROUNDS = 15
_spawn = multiprocessing.get_context("spawn")


class SkewedClock:
    """The system clock, off by a fixed amount (an app server with a wrong clock)."""

    def __init__(self, skew_us: int) -> None:
        self._skew = skew_us

    def now_us(self) -> int:
        return time.time_ns() // 1000 + self._skew


def _service(url: str, prefix: str, skew_us: int = 0) -> UploadTickets:
    backend = open_backend(url, prefix=prefix)
    return UploadTickets(
        store=backend, limiter=backend, signer=make_signer(), blobs=MemoryBlobStore(), clock=SkewedClock(skew_us)
    )


def _consumer(
    url: str,
    prefix: str,
    jobs: multiprocessing.Queue[list[str] | None],
    results: multiprocessing.Queue[str],
    barrier: Barrier,
) -> None:
    service = _service(url, prefix)
    while (ids := jobs.get()) is not None:
        barrier.wait()
        try:
            results.put(service.consume(Team("racers"), ids).id)
        except AlreadyConsumed:
            results.put("lost")
        except Exception as error:
            results.put(f"error: {error!r}")


def test_processes_racing_to_consume_six_tickets_have_one_winner(redis_url: str) -> None:
    prefix = f"race-{uuid.uuid4().hex[:8]}"
    backend = open_backend(redis_url, prefix=prefix)
    jobs = [_spawn.Queue() for _ in range(WORKERS)]
    results = _spawn.Queue()
    barrier = _spawn.Barrier(WORKERS)
    workers = [_spawn.Process(target=_consumer, args=(redis_url, prefix, q, results, barrier)) for q in jobs]
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
            assert {t.character_id for t in backend.get_many("racers", ids) if t is not None} == {winners[0]}
    finally:
        for queue in jobs:
            queue.put(None)
        for worker in workers:
            worker.join(timeout=30)
        backend.clear()
    assert all(worker.exitcode == 0 for worker in workers)


def _minter(
    url: str, prefix: str, skew_us: int, calls: int, barrier: Barrier, results: multiprocessing.Queue[int]
) -> None:
    service = _service(url, prefix, skew_us)
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


def test_skewed_app_clocks_never_over_admit(redis_url: str) -> None:
    # Half the processes run 30 s fast, half 30 s slow: the bucket follows Redis TIME.
    prefix = f"skew-{uuid.uuid4().hex[:8]}"
    skews = [30_000_000 if n % 2 else -30_000_000 for n in range(WORKERS)]
    results = _spawn.Queue()
    barrier = _spawn.Barrier(WORKERS + 1)
    workers = [_spawn.Process(target=_minter, args=(redis_url, prefix, skew, 40, barrier, results)) for skew in skews]
    for worker in workers:
        worker.start()
    started = time.monotonic()
    barrier.wait()
    admitted = sum(results.get(timeout=120) for _ in range(WORKERS))
    elapsed = time.monotonic() - started
    for worker in workers:
        worker.join(timeout=30)
    open_backend(redis_url, prefix=prefix).clear()
    interval_s = CHARACTERS_POST.emission_interval_us / 1_000_000
    assert 60 <= admitted <= 60 + int(elapsed / interval_s), (admitted, elapsed)
