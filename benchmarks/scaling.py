"""Aggregate mint throughput with 1, 2 and 4 worker processes on the shared backends."""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from multiprocessing.synchronize import Barrier

from benchmarks._harness import bench_service
from upload_tickets import MintRequest, Team
from upload_tickets.registry import backend_from_url

POSTGRES_URL = os.environ.get("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
_spawn = multiprocessing.get_context("spawn")


def _worker(url: str, seconds: float, barrier: Barrier, results: multiprocessing.Queue[int]) -> None:
    backend = backend_from_url(url, create=True)
    service = bench_service(backend.store, backend.limiter)
    team, request = Team(f"scale-{uuid.uuid4().hex[:8]}"), MintRequest("f.png", "png", "image/png")
    service.mint(team, request)
    barrier.wait()
    deadline, minted = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        service.mint(team, request)
        minted += 1
    results.put(minted)


def mints_per_second(url: str, processes: int, seconds: float) -> float:
    """Total mints per second of ``processes`` processes minting as fast as they can."""
    barrier = _spawn.Barrier(processes)
    results: multiprocessing.Queue[int] = _spawn.Queue()
    workers = [_spawn.Process(target=_worker, args=(url, seconds, barrier, results)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    total = sum(results.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join(timeout=30)
    return total / seconds


def run(*, seconds: float, process_counts: tuple[int, ...] = (1, 2, 4)) -> dict[str, dict[int, float]]:
    """Mints per second by backend and process count."""
    return {
        name: {count: mints_per_second(url, count, seconds) for count in process_counts}
        for name, url in (("Redis", REDIS_URL), ("PostgreSQL", POSTGRES_URL))
    }
