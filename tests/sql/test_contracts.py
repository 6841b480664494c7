"""The exported contract suite and state machine on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import pytest

from tests.sql.conftest import DIALECTS, dialect_url
from tests.support import run_state_machine
from upload_tickets.testing import RateLimiterContract, TicketStoreContract
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

    try:
        run_state_machine(backend)
    finally:
        backend.dispose()
