"""OS processes racing on Redis: one consume winner; skewed app clocks never over-admit."""

from __future__ import annotations

import functools
import uuid

from upload_tickets.testing.races import bucket_hammer, consume_race
from upload_tickets_redis import open_backend


def test_processes_racing_to_consume_six_tickets_have_one_winner(redis_url: str) -> None:
    prefix = f"race-{uuid.uuid4().hex[:8]}"
    try:
        consume_race(functools.partial(open_backend, redis_url, prefix=prefix))
    finally:
        backend = open_backend(redis_url, prefix=prefix)
        backend.clear()
        backend.close()


def test_skewed_app_clocks_never_over_admit(redis_url: str) -> None:
    # Half the processes run 30 s fast, half 30 s slow: the bucket follows Redis TIME.
    prefix = f"skew-{uuid.uuid4().hex[:8]}"
    skews = [30_000_000 if n % 2 else -30_000_000 for n in range(8)]
    bucket_hammer(functools.partial(open_backend, redis_url, prefix=prefix), skews_us=skews)
    open_backend(redis_url, prefix=prefix).clear()
