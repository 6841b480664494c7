"""Bytes of memory per ticket held by the memory store, at a million tickets."""

from __future__ import annotations

import gc
import tracemalloc

from benchmarks._harness import bench_service
from upload_tickets import (
    ManualClock,
    MemoryRateLimiter,
    MemoryTicketStore,
    MintRequest,
    Team,
)


def bytes_per_ticket(tickets: int) -> float:
    """Mint ``tickets`` tickets for 100 teams over one ticket TTL; measure what the store holds per ticket.

    A store at steady state holds one TTL's worth of tickets, so the mints are spread
    evenly over 24 h of (simulated) time.
    """
    clock = ManualClock()
    store = MemoryTicketStore()
    service = bench_service(store, MemoryRateLimiter(clock), clock)
    teams = [Team(f"team-{n}") for n in range(100)]
    requests = [MintRequest(f"front-{n}.jpg", "jpg", "image/jpeg") for n in range(10)]
    spacing_us = service.ttl.ticket_ttl_us // tickets
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n in range(tickets):
        service.mint(teams[n % 100], requests[n % 10])
        clock.advance(spacing_us)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(store) == tickets
    return held / tickets


if __name__ == "__main__":
    print(f"{bytes_per_ticket(1_000_000):.0f} bytes per ticket")
