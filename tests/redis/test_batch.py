"""Pipelined batch mint on Redis: one round trip, each mint atomic on its own."""

from __future__ import annotations

from tests.support import make_signer
from upload_tickets import (
    MemoryBlobStore,
    MintRequest,
    MintResult,
    RateLimited,
    State,
    SystemClock,
    Team,
    UploadTickets,
)
from upload_tickets_redis import RedisBackend


def test_mint_many_pipelines_and_still_rate_limits(redis_backend: RedisBackend) -> None:
    service = UploadTickets(
        store=redis_backend, limiter=redis_backend, signer=make_signer(), blobs=MemoryBlobStore(), clock=SystemClock()
    )
    results = service.mint_many(Team("batch"), [MintRequest("f.png", "png", "image/png")] * 61)
    minted = [r for r in results if isinstance(r, MintResult)]
    assert len(minted) == 60
    assert isinstance(results[60], RateLimited)
    stored = redis_backend.get_many("batch", [r.ticket.id for r in minted])
    assert all(t is not None and t.state is State.MINTED for t in stored)
