"""Characters own their bytes in S3 (s3rver): the ownership contract (both flavours), and kills after every change."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal

from tests.s3.support import S3Server, hosted_service, list_blob_keys, open_service
from tests.support import make_signer
from upload_tickets import AsyncMemoryRateLimiter, AsyncMemoryTicketStore, AsyncUploadTickets
from upload_tickets.protocols import Clock
from upload_tickets.testing import ServiceOwnershipContract, blocking
from upload_tickets.testing.crashes import OPERATIONS, crash_matrix
from upload_tickets.testing.ownership import ServiceFactory
from upload_tickets_s3 import AsyncS3BlobStore


class TestOwnershipOnS3(ServiceOwnershipContract):
    @pytest.fixture
    def service_factory(self, s3rver: S3Server) -> ServiceFactory:
        server = s3rver.isolated()
        return lambda clock: hosted_service(server, clock)


class TestAsyncOwnershipOnS3(ServiceOwnershipContract):
    """The same suite through ``AsyncUploadTickets`` on ``AsyncS3BlobStore``, on one event loop."""

    @pytest.fixture
    def service_factory(self, s3rver: S3Server, portal: BlockingPortal) -> Iterator[ServiceFactory]:
        server = s3rver.isolated()
        opened: list[AsyncS3BlobStore] = []

        def service(clock: Clock) -> Any:
            opened.append(server.async_blobs())
            tickets = AsyncUploadTickets(
                store=AsyncMemoryTicketStore(),
                limiter=AsyncMemoryRateLimiter(clock),
                signer=make_signer(),
                blobs=opened[-1],
                clock=clock,
            )
            return blocking(tickets, portal)

        yield service
        for blobs in opened:
            portal.call(blobs.aclose)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_crash_after_any_change_loses_and_leaks_no_bytes(s3rver: S3Server, tmp_path: Path, operation: str) -> None:
    server = s3rver.isolated()
    outcomes = crash_matrix(
        functools.partial(open_service, server, f"sqlite:///{tmp_path / 'tickets.db'}"),
        functools.partial(list_blob_keys, server),
        operation=operation,
    )
    assert outcomes[-1].completed
    assert len(outcomes) > 1, "the operation changed nothing before it completed"
    assert [o for o in outcomes if not o.ok] == []
