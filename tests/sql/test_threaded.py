"""A sync backend under the async facade: SQL through the worker-thread wrapper passes the same contract.

The SQL adapter has an async flavour of its own now (``test_async_contracts.py``), but a
user may still wrap the sync ``SqlBackend``, and an adapter that ships no async factory
still gets this wrapper from ``async_backend_from_url``: shown here with a stand-in entry
point whose module has no ``async_`` twin of its factory.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal

from tests.sql.conftest import dialect_url
from tests.support import make_signer
from upload_tickets import (
    AsyncBackend,
    AsyncMemoryBlobStore,
    AsyncUploadTickets,
    Backend,
    MintRequest,
    SystemClock,
    Team,
    async_backend_from_url,
    registry,
)
from upload_tickets.testing import RateLimiterContract, TicketStoreContract, blocking
from upload_tickets.threaded import ThreadedChargingStore, threaded_store
from upload_tickets_sql import SqlBackend, backend_from_url


@pytest.fixture
def threaded(sql_backend: SqlBackend) -> ThreadedChargingStore:
    return ThreadedChargingStore(sql_backend)


class TestThreadedSqlTicketStore(TicketStoreContract):
    @pytest.fixture
    def store(self, threaded: ThreadedChargingStore, portal: BlockingPortal) -> Any:
        return blocking(threaded, portal)


class TestThreadedSqlRateLimiter(RateLimiterContract):
    @pytest.fixture
    def limiter(self, threaded: ThreadedChargingStore, portal: BlockingPortal) -> Any:
        return blocking(threaded, portal)


def test_a_wrapped_sql_backend_stays_one_charging_store(sql_backend: SqlBackend) -> None:
    store = threaded_store(sql_backend)
    # The wrapper that keeps the one-call mint (charge and insert together), not a plain store's.
    assert type(store) is ThreadedChargingStore
    assert store.inner is sql_backend


def sync_only_backend_from_url(url: str, **options: Any) -> Backend:
    """An adapter's factory with no ``async_sync_only_backend_from_url`` beside it: SQL's sync one."""
    return backend_from_url(url, **options)


def test_an_adapter_without_an_async_factory_runs_on_worker_threads(
    tmp_path: Path, portal: BlockingPortal, monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_in = EntryPoint(
        name="sqlite", value=f"{__name__}:sync_only_backend_from_url", group=registry.ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(registry, "entry_points", lambda group, name: [stand_in] if name == "sqlite" else [])
    backend = async_backend_from_url(dialect_url("sqlite", tmp_path), create=True)
    assert isinstance(backend, AsyncBackend)
    store = backend.store
    assert isinstance(store, ThreadedChargingStore)
    # Store and limiter stay one object, so a mint stays one atomic call (one round trip).
    assert backend.limiter is store
    assert isinstance(store.inner, SqlBackend)
    try:
        service = AsyncUploadTickets(
            store=store,
            limiter=backend.limiter,
            signer=make_signer(),
            blobs=AsyncMemoryBlobStore(),
            clock=SystemClock(),
        )
        minted = portal.call(service.mint, Team("threaded"), MintRequest("a.png", "png", "image/png"))
        assert store.inner.get("threaded", minted.ticket.id) == minted.ticket
    finally:
        store.inner.dispose()
