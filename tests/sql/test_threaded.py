"""A sync backend under the async facade: SQL through the worker-thread wrapper passes the same contract."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal

from tests.sql.conftest import dialect_url
from upload_tickets import AsyncBackend, async_backend_from_url
from upload_tickets.testing import RateLimiterContract, TicketStoreContract, blocking, event_loop_thread
from upload_tickets.threaded import ThreadedChargingStore
from upload_tickets_sql import SqlBackend


@pytest.fixture(scope="module")
def portal() -> Iterator[BlockingPortal]:
    with event_loop_thread() as portal:
        yield portal


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


def test_an_adapter_without_an_async_factory_runs_on_worker_threads(tmp_path_factory: pytest.TempPathFactory) -> None:
    backend = async_backend_from_url(dialect_url("sqlite", tmp_path_factory.mktemp("threaded")), create=True)
    assert isinstance(backend, AsyncBackend)
    assert isinstance(backend.store, ThreadedChargingStore)
    # Store and limiter stay one object, so a mint stays one atomic call (one round trip).
    assert backend.limiter is backend.store
    backend.store.inner.dispose()  # type: ignore[attr-defined]  # the wrapped SqlBackend
