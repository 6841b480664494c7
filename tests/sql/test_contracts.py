"""The exported contract suite and state machine on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import attrs
import pytest

from tests.sql.conftest import DIALECTS, dialect_url
from tests.support import run_state_machine
from upload_tickets import State
from upload_tickets.service import staged_key
from upload_tickets.testing import RateLimiterContract, SweepLedgerContract, TicketStoreContract, make_ticket
from upload_tickets_sql import SqlBackend, open_backend


class TestSqlTicketStore(TicketStoreContract):
    @pytest.fixture
    def store(self, sql_backend: SqlBackend) -> SqlBackend:
        return sql_backend


class TestSqlSweepLedger(SweepLedgerContract):
    @pytest.fixture
    def ledger(self, sql_backend: SqlBackend) -> SqlBackend:
        return sql_backend


def test_etags_and_the_longest_staged_keys_round_trip(sql_backend: SqlBackend) -> None:
    team = "t" * 128  # the longest team id the schema takes
    minted = make_ticket(team=team)
    ticket = attrs.evolve(
        minted,
        state=State.UPLOADED,
        blob_key=f"{staged_key(team, minted.id)}.0123456789ab",
        etag='"9b2cf535f27731c9-3"',
    )
    sql_backend.create(ticket)
    assert sql_backend.get(team, ticket.id) == ticket


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
