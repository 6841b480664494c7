"""OS processes of async workers racing on Redis: one consume winner; skewed app clocks never over-admit.

The races of ``test_races.py``, with each process running an event loop of several
tasks on ``AsyncUploadTickets`` over ``async_backend_from_url`` (``AsyncRedisBackend``).
"""

from __future__ import annotations

import asyncio
import functools
import uuid

from upload_tickets import async_backend_from_url
from upload_tickets.testing.races import async_bucket_hammer, async_consume_race
from upload_tickets_redis import async_open_backend, open_backend


def test_async_workers_racing_to_consume_six_tickets_have_one_winner(redis_url: str) -> None:
    prefix = f"arace-{uuid.uuid4().hex[:8]}"
    try:
        async_consume_race(
            functools.partial(async_backend_from_url, redis_url, prefix=prefix), processes=2, tasks=4, rounds=8
        )
    finally:
        backend = open_backend(redis_url, prefix=prefix)
        backend.clear()
        backend.close()


def test_async_workers_on_skewed_app_clocks_never_over_admit(redis_url: str) -> None:
    # Half the processes run 30 s fast, half 30 s slow: the bucket follows Redis TIME.
    prefix = f"askew-{uuid.uuid4().hex[:8]}"
    skews = [30_000_000, -30_000_000]
    try:
        # 2 x 6 tasks x 8 calls: more than the burst of 60, from both clocks at once.
        async_bucket_hammer(
            functools.partial(async_backend_from_url, redis_url, prefix=prefix), skews_us=skews, tasks=6, calls=8
        )
    finally:
        backend = open_backend(redis_url, prefix=prefix)
        backend.clear()
        backend.close()


def test_a_fresh_cluster_backend_takes_concurrent_first_requests(cluster_url: str) -> None:
    # An app server that starts under load: its first requests all arrive at once. redis-py's
    # async Cluster client races its own start-up then (a node connection dropped while
    # another task opens it); the backend starts a fresh client with its first command alone.
    prefix = f"first-{uuid.uuid4().hex[:8]}"

    async def attempt() -> None:
        backend = async_open_backend(cluster_url, prefix=prefix)

        async def requests() -> None:
            for _ in range(8):
                assert await backend.get("racers", "upl_01HXMQ7Z3K8Y2NABCDEFGHJKMR") is None

        try:
            await asyncio.gather(*(requests() for _ in range(6)))
        finally:
            await backend.aclose()

    # It fails one fresh client in four or five: 25 of them all passing would be luck (< 0.2 %).
    for _ in range(25):
        asyncio.run(attempt())
