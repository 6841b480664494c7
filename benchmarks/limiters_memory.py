"""Our in-memory GCRA limiter next to other libraries' in-memory limiters."""

from __future__ import annotations

import itertools

from limits import RateLimitItemPerMinute, storage, strategies
from pyrate_limiter import Duration, InMemoryBucket, Limiter, Rate
from throttled import MemoryStore, RateLimiterType, Throttled, per_min

from benchmarks._harness import Figure, side_by_side
from upload_tickets import CHARACTERS_POST, MemoryRateLimiter, RateDecision


def run(*, calls: int, rounds: int) -> list[Figure]:
    """Per-call cost of one admitted request on each in-memory limiter (fresh keys)."""
    keys = (f"team-{n}" for n in itertools.count())
    ours_limiter = MemoryRateLimiter()

    def ours() -> RateDecision:
        return ours_limiter.acquire(f"characters_post:{{{next(keys)}}}", CHARACTERS_POST)

    throttled_gcra = Throttled(using=RateLimiterType.GCRA.value, quota=per_min(30, burst=60), store=MemoryStore())
    moving_window = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
    item = RateLimitItemPerMinute(60)
    pyrate = Limiter(InMemoryBucket([Rate(10**9, Duration.MINUTE)]))
    return [
        side_by_side(
            "memory limiter (ours, GCRA)", ours, name, alternative, calls=calls, rounds=rounds, target="<= 1.0"
        )
        for name, alternative in (
            ("throttled-py GCRA (memory)", lambda: throttled_gcra.limit(next(keys))),
            ("limits moving window (memory)", lambda: moving_window.hit(item, next(keys))),
            ("pyrate-limiter (memory bucket)", lambda: pyrate.try_acquire(next(keys), blocking=False)),
        )
    ]
