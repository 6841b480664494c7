"""The facade's rules on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sql.conftest import file_blobs, sql_service
from upload_tickets.testing import ServiceRulesContract
from upload_tickets.testing.ownership import ServiceFactory
from upload_tickets_sql import SqlBackend


class TestSqlRules(ServiceRulesContract):
    @pytest.fixture
    def service_factory(self, sql_backend: SqlBackend, tmp_path: Path) -> ServiceFactory:
        return lambda clock: sql_service(sql_backend, clock, file_blobs(tmp_path / "blobs"))
