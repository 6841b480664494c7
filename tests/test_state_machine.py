"""The whole service on the memory backends, driven by the exported state machine."""

from __future__ import annotations

from hypothesis import settings

from tests.support import SIGNING_KEYS
from upload_tickets import (
    HmacSigner,
    ManualClock,
    MemoryBlobStore,
    MemoryRateLimiter,
    MemoryTicketStore,
    UploadTickets,
)
from upload_tickets.testing import service_state_machine


def _memory_service(clock: ManualClock) -> UploadTickets:
    return UploadTickets(
        store=MemoryTicketStore(),
        limiter=MemoryRateLimiter(clock),
        signer=HmacSigner("http://127.0.0.1:8000/uploads", SIGNING_KEYS, "k1"),
        blobs=MemoryBlobStore(),
        clock=clock,
        max_upload_bytes=4096,
    )


MemoryMachine = service_state_machine(_memory_service)
MemoryMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
TestMemoryMachine = MemoryMachine.TestCase
