"""``AsyncUploadTickets`` on the async memory backends, driven by the exported state machine.

The machine is written against the sync facade; :func:`blocking` runs every call on one
event loop that lives for the whole machine run (all examples, all steps), as an app's
loop would.
"""

from __future__ import annotations

from typing import Any

from anyio.from_thread import BlockingPortal
from hypothesis import settings

from tests.support import SIGNING_KEYS
from upload_tickets import (
    AsyncMemoryBlobStore,
    AsyncMemoryRateLimiter,
    AsyncMemoryTicketStore,
    AsyncUploadTickets,
    HmacSigner,
    ManualClock,
)
from upload_tickets.testing import service_state_machine
from upload_tickets.testing.blocking import blocking, event_loop_thread


def _async_memory_service(clock: ManualClock, portal: BlockingPortal) -> Any:
    service = AsyncUploadTickets(
        store=AsyncMemoryTicketStore(),
        limiter=AsyncMemoryRateLimiter(clock),
        signer=HmacSigner("http://127.0.0.1:8000/uploads", SIGNING_KEYS, "k1"),
        blobs=AsyncMemoryBlobStore(),
        clock=clock,
        max_upload_bytes=4096,
    )
    return blocking(service, portal)


def test_async_memory_service_state_machine() -> None:
    with event_loop_thread() as portal:
        machine = service_state_machine(lambda clock: _async_memory_service(clock, portal))
        machine.TestCase.settings = settings(max_examples=40, stateful_step_count=50, deadline=None)
        machine.TestCase("runTest").runTest()
