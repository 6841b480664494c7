"""Mint on memory + HMAC next to its floor: one ULID, one HMAC-SHA256, one attrs instance."""

from __future__ import annotations

import hmac

import attrs
from ulid import ULID

from benchmarks._harness import Figure, side_by_side
from upload_tickets import (
    HmacSigner,
    MemoryBlobStore,
    MemoryRateLimiter,
    MemoryTicketStore,
    MintRequest,
    RatePolicy,
    SystemClock,
    Team,
    UploadTickets,
)

_KEY = b"benchmark-secret-benchmark-secret"
_UNLIMITED = RatePolicy(name="bench", limit=1_000_000, period_us=1_000_000, burst=10**9)


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
    service = UploadTickets(
        store=MemoryTicketStore(),
        limiter=MemoryRateLimiter(clock),
        signer=HmacSigner("http://127.0.0.1:8000/uploads", {"k1": _KEY}, "k1"),
        blobs=MemoryBlobStore(),
        clock=clock,
        rate=_UNLIMITED,
    )
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
