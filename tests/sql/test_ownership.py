"""Characters keep their bytes and expired uploads lose theirs, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sql.conftest import dialect_url, file_blobs, sql_service
from upload_tickets.testing import ServiceOwnershipContract, sweep_consume_race
from upload_tickets.testing.ownership import ServiceFactory
from upload_tickets_sql import SqlBackend, open_backend


class TestSqlOwnership(ServiceOwnershipContract):
    @pytest.fixture
    def service_factory(self, sql_backend: SqlBackend, tmp_path: Path) -> ServiceFactory:
        return lambda clock: sql_service(sql_backend, clock, file_blobs(tmp_path / "blobs"))


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_sweep_and_consume_never_race_to_a_loss(dialect: str, tmp_path: Path) -> None:
    backend = open_backend(dialect_url(dialect, tmp_path), create=True)
    backend.clear()
    try:
        # A 30 ms TTL instead of 80: both orderings stay frequent, 300 rounds take seconds.
        outcome = sweep_consume_race(
            lambda clock: sql_service(backend, clock, file_blobs(tmp_path / "blobs")), rounds=300, ttl_us=30_000
        )
    finally:
        backend.dispose()
    assert outcome.lost == 0
    # Both orderings happened, so the race was real.
    assert outcome.consumed > 0
    assert outcome.expired > 0
