"""Mint on memory + HMAC next to its floor: one ULID, one HMAC-SHA256, one attrs instance."""

from __future__ import annotations

import hmac

import attrs
from ulid import ULID

from benchmarks._harness import Figure, bench_service, side_by_side
from upload_tickets import (
    MemoryRateLimiter,
    MemoryTicketStore,
    MintRequest,
    SystemClock,
    Team,
)

_KEY = b"benchmark-secret-benchmark-secret"


@attrs.frozen
class _FloorTicket:
    id: str
    signature: bytes


def _floor(clock: SystemClock) -> _FloorTicket:
    ticket_id = f"upl_{ULID.from_timestamp(clock.now_us() // 1000)}"
    return _FloorTicket(ticket_id, hmac.digest(_KEY, ticket_id.encode(), "sha256"))


def run(*, calls: int, rounds: int) -> list[Figure]:
    """Measure mint against its floor."""
    clock = SystemClock()
    service = bench_service(MemoryTicketStore(), MemoryRateLimiter(clock), clock)
    team = Team("bench")
    request = MintRequest(filename="front-portrait.jpg", extension="jpg", content_type="image/jpeg")
    figure = side_by_side(
        "mint (memory + HMAC)",
        lambda: service.mint(team, request),
        "floor (ULID + HMAC + attrs)",
        lambda: _floor(clock),
        calls=calls,
        rounds=rounds,
        target="<= 2.5",
    )
    return [figure]
