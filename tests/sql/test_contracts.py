"""The exported contract suite and state machine on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import pytest
from hypothesis import settings

from tests.sql.conftest import DIALECTS, dialect_url
from tests.support import make_signer
from upload_tickets import ManualClock, MemoryBlobStore, TTLPolicy, UploadTickets
from upload_tickets.testing import RateLimiterContract, TicketStoreContract, service_state_machine
from upload_tickets_sql import SqlBackend, open_backend


class TestSqlTicketStore(TicketStoreContract):
    @pytest.fixture
    def store(self, sql_backend: SqlBackend) -> SqlBackend:
        return sql_backend


class TestSqlRateLimiter(RateLimiterContract):
    @pytest.fixture
    def limiter(self, sql_backend: SqlBackend) -> SqlBackend:
        return sql_backend


@pytest.mark.parametrize("dialect", DIALECTS)
def test_service_state_machine(dialect: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    url = dialect_url(dialect, tmp_path_factory.mktemp(f"machine-{dialect}"))
    backend = open_backend(url, create=True)

    def make_service(clock: ManualClock) -> UploadTickets:
        backend.clear()
        return UploadTickets(
            store=backend,
            limiter=backend,
            signer=make_signer(),
            blobs=MemoryBlobStore(),
            clock=clock,
            ttl=TTLPolicy(max_upload_bytes=4096),
        )

    machine = service_state_machine(make_service, exact_rate_limit=False)
    machine.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
    try:
        machine.TestCase("runTest").runTest()
    finally:
        backend.dispose()
