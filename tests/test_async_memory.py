"""The async memory and file adapters, and ``AsyncUploadTickets``, pass the exported sync suites.

Every async component is driven through :func:`~upload_tickets.testing.blocking.blocking`
on ONE event loop for the whole module (``event_loop_thread``), as an app's long-lived
loop would run it: the same suites that hold the sync adapters (``test_memory_adapters``)
hold the async ones, races included (``run_at_once`` threads call into that one loop).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal

from tests.support import make_signer
from upload_tickets import (
    AsyncFileBlobStore,
    AsyncMemoryBlobStore,
    AsyncMemoryRateLimiter,
    AsyncMemoryTicketStore,
    AsyncUploadTickets,
    ManualClock,
)
from upload_tickets.protocols import AsyncBlobStore, Clock, RateLimiter
from upload_tickets.testing import (
    BlobStoreContract,
    RateLimiterContract,
    ServiceOwnershipContract,
    ServiceRulesContract,
    TicketStoreContract,
    sweep_consume_race,
)
from upload_tickets.testing.blocking import blocking, event_loop_thread
from upload_tickets.testing.ownership import ServiceFactory


@pytest.fixture(scope="module")
def portal() -> Iterator[BlockingPortal]:
    with event_loop_thread() as portal:
        yield portal


class TestAsyncMemoryTicketStore(TicketStoreContract):
    @pytest.fixture
    def store(self, portal: BlockingPortal) -> Any:
        return blocking(AsyncMemoryTicketStore(), portal)


class TestAsyncMemoryRateLimiter(RateLimiterContract):
    @pytest.fixture
    def limiter(self, portal: BlockingPortal) -> Any:
        return blocking(AsyncMemoryRateLimiter(ManualClock()), portal)

    def wait(self, limiter: RateLimiter, us: int) -> None:
        clock = getattr(limiter, "own_clock", None)
        assert isinstance(clock, ManualClock)
        clock.advance(us)


class TestAsyncMemoryRateLimiterOnTheSystemClock(RateLimiterContract):
    @pytest.fixture
    def limiter(self, portal: BlockingPortal) -> Any:
        return blocking(AsyncMemoryRateLimiter(), portal)


class TestAsyncMemoryBlobStore(BlobStoreContract):
    @pytest.fixture
    def blobs(self, portal: BlockingPortal) -> Any:
        return blocking(AsyncMemoryBlobStore(), portal)


class TestAsyncFileBlobStore(BlobStoreContract):
    @pytest.fixture
    def root(self, tmp_path: Path) -> Path:
        return tmp_path / "blobs"

    @pytest.fixture
    def blobs(self, portal: BlockingPortal, root: Path) -> Any:
        return blocking(AsyncFileBlobStore(root), portal)

    def test_no_temporary_files_are_left_behind(self, blobs: Any, root: Path) -> None:
        with pytest.raises(Exception, match="exceeds"):
            blobs.put("upl_x.1", [b"x" * 10], max_bytes=5, content_type="image/png")
        blobs.put("upl_x.2", [b"ok"], max_bytes=5, content_type="image/png")
        names = sorted(p.name for p in root.rglob("*") if p.is_file())
        assert names == ["upl_x.2"]

    @pytest.mark.parametrize(
        "key", ["../etc/passwd", "a//b", "/abs", "a/.hidden", "a/", "", ".hidden", "x" * 200, "a..b", "a/b/c/d/e/f/g"]
    )
    def test_keys_cannot_escape_the_root(self, blobs: Any, key: str) -> None:
        with pytest.raises(ValueError, match="invalid blob key"):
            blobs.put(key, [b"x"], max_bytes=5, content_type="image/png")


def _async_service(clock: Clock, blobs: AsyncBlobStore, portal: BlockingPortal) -> Any:
    """An ``AsyncUploadTickets`` on async memory backends, as a sync stand-in on ``portal``'s loop."""
    service = AsyncUploadTickets(
        store=AsyncMemoryTicketStore(),
        limiter=AsyncMemoryRateLimiter(clock),
        signer=make_signer(),
        blobs=blobs,
        clock=clock,
    )
    return blocking(service, portal)


class TestAsyncOwnershipOnMemory(ServiceOwnershipContract):
    @pytest.fixture
    def service_factory(self, portal: BlockingPortal) -> ServiceFactory:
        return lambda clock: _async_service(clock, AsyncMemoryBlobStore(), portal)


class TestAsyncRulesOnMemory(ServiceRulesContract):
    @pytest.fixture
    def service_factory(self, portal: BlockingPortal) -> ServiceFactory:
        return lambda clock: _async_service(clock, AsyncMemoryBlobStore(), portal)


class TestAsyncOwnershipOnFiles(ServiceOwnershipContract):
    @pytest.fixture
    def service_factory(self, portal: BlockingPortal, tmp_path: Path) -> ServiceFactory:
        return lambda clock: _async_service(clock, AsyncFileBlobStore(tmp_path / "blobs", fsync=False), portal)


def test_sweep_and_consume_never_race_to_a_loss_on_files(portal: BlockingPortal, tmp_path: Path) -> None:
    # Fewer rounds than the sync suite's 300 (each takes ~0.1 s of real time): enough for both orderings.
    outcome = sweep_consume_race(lambda clock: _async_service(clock, AsyncFileBlobStore(tmp_path), portal), rounds=40)
    assert outcome.lost == 0
    # Both orderings happened, so the race was real.
    assert outcome.consumed > 0
    assert outcome.expired > 0
