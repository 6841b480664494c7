"""Redis: mint next to a raw EVALSHA round trip, batched mint, and our limiter next to other libraries'.

Everything runs against the same Redis server in the same run.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path
from typing import cast

import redis
import redis.cluster
from limits import RateLimitItemPerMinute, storage, strategies
from pyrate_limiter import Duration, Limiter, Rate, RedisBucket
from throttled import RateLimiterType, RedisStore, Throttled, per_min

from benchmarks._harness import Figure, bench_service, side_by_side
from upload_tickets import (
    CHARACTERS_POST,
    MintRequest,
    RateDecision,
    Team,
    UploadTickets,
)
from upload_tickets_redis import RedisBackend, open_backend
from upload_tickets_redis.testing import start_cluster

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
_REQUEST = MintRequest(filename="front-portrait.jpg", extension="jpg", content_type="image/jpeg")
_BATCH = 100


def _cluster_mint(calls: int, rounds: int) -> Figure:
    """Mint on a 3-node Redis Cluster next to a raw EVALSHA on the same cluster."""
    with tempfile.TemporaryDirectory() as directory:
        cluster = start_cluster(Path(directory))
        try:
            backend = open_backend(cluster.cluster_url, prefix="bench")
            service = _service(backend)
            raw = redis.cluster.RedisCluster.from_url(cluster.cluster_url.replace("redis+cluster", "redis"))
            sha = cast(str, raw.script_load("return 1"))
            key = "{bench}:k"  # the raw call goes to the node serving the team's slot, like the mint
            team = Team("bench")
            return side_by_side(
                "mint (Redis Cluster)",
                lambda: service.mint(team, _REQUEST),
                "raw EVALSHA round trip (Cluster)",
                lambda: raw.evalsha(sha, 1, key),
                calls=calls,
                rounds=rounds,
                target="<= 1.3",
            )
        finally:
            cluster.stop()


def _service(backend: RedisBackend) -> UploadTickets:
    return bench_service(backend, backend)


def run(*, calls: int, rounds: int) -> list[Figure]:
    """Measure the Redis figures."""
    backend = open_backend(REDIS_URL, prefix="bench")
    backend.clear()
    service = _service(backend)
    raw = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    sha = cast(str, raw.script_load("return 1"))
    team = Team("bench")
    figures = [
        side_by_side(
            "mint (Redis)",
            lambda: service.mint(team, _REQUEST),
            "raw EVALSHA round trip",
            lambda: raw.evalsha(sha, 0),
            calls=calls,
            rounds=rounds,
            target="<= 1.3",
        ),
        side_by_side(
            f"mint_many, {_BATCH} per call (Redis)",
            lambda: service.mint_many(team, [_REQUEST] * _BATCH),
            f"{_BATCH} single mints (Redis)",
            lambda: [service.mint(team, _REQUEST) for _ in range(_BATCH)],
            calls=max(1, calls // _BATCH),
            rounds=rounds,
            target="< 1 (pipelining wins)",
        ),
    ]
    keys = (f"team-{n}" for n in itertools.count())
    # The spec's policy on every limiter; each call hits a fresh key so none is refused.

    def ours(key: str) -> RateDecision:
        return backend.acquire(f"characters_post:{{{key}}}", CHARACTERS_POST)

    throttled_gcra = Throttled(
        using=RateLimiterType.GCRA.value, quota=per_min(30, burst=60), store=RedisStore(server=REDIS_URL)
    )
    limits_storage = storage.RedisStorage(REDIS_URL)
    moving_window = strategies.MovingWindowRateLimiter(limits_storage)
    fixed_window = strategies.FixedWindowRateLimiter(limits_storage)
    item = RateLimitItemPerMinute(60)
    # pyrate-limiter routes every name to its one bucket: a rate it never refuses keeps
    # the comparison on the admit path, like the fresh keys above.
    pyrate = Limiter(RedisBucket.init([Rate(10**9, Duration.MINUTE)], raw, "ut-bench-pyrate"))
    for name, alternative in (
        ("throttled-py GCRA", lambda: throttled_gcra.limit(next(keys))),
        ("limits moving window", lambda: moving_window.hit(item, next(keys))),
        ("limits fixed window", lambda: fixed_window.hit(item, next(keys))),
        ("pyrate-limiter (Redis bucket)", lambda: pyrate.try_acquire(next(keys), blocking=False)),
    ):
        figures.append(
            side_by_side(
                "Redis limiter (ours, GCRA)",
                lambda: ours(next(keys)),
                name,
                alternative,
                calls=calls,
                rounds=rounds,
                target="<= 1.0",
            )
        )
    figures.append(_cluster_mint(calls, rounds))
    raw.delete("ut-bench-pyrate")
    backend.clear()
    backend.close()
    return figures
