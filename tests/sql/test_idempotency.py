"""Racing requests with one Idempotency-Key: one resource, one charge, on every dialect."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.sql.conftest import file_blobs, sql_service
from upload_tickets import MintRequest, MintResult, Operation, SystemClock, Team, UploadTicket
from upload_tickets.testing.rules import run_at_once
from upload_tickets_sql import SqlBackend, tickets


def test_racing_replays_of_a_mint_make_one_ticket_and_are_charged_once(
    sql_backend: SqlBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = sql_service(sql_backend, SystemClock(), file_blobs(tmp_path / "blobs"))
    team, request = Team("racing_replays"), MintRequest("front.png", "png", "image/png")
    policy = service.rates.policy(Operation.MINT)
    assert policy is not None
    looked_up = threading.Barrier(8)
    first_lookup = threading.local()
    find = sql_backend.find_by_idempotency_key

    def find_then_wait_for_the_others(team_id: str, key: str) -> UploadTicket | None:
        found = find(team_id, key)
        if not getattr(first_lookup, "done", False):
            first_lookup.done = True
            # Every mint has found the key free before any inserts: all eight charge and insert.
            looked_up.wait()
        return found

    monkeypatch.setattr(sql_backend, "find_by_idempotency_key", find_then_wait_for_the_others)
    outcomes = run_at_once(8, lambda: service.mint(team, request, idempotency_key="k"))
    monkeypatch.undo()
    results = [outcome for outcome in outcomes if isinstance(outcome, MintResult)]
    assert len(results) == 8, outcomes
    assert len({result.ticket.id for result in results}) == 1
    assert [result.replayed for result in results].count(False) == 1
    with sql_backend.engine.connect() as connection:
        count = sa.select(sa.func.count()).select_from(tickets).where(tickets.c.team == team.id)
        assert connection.execute(count).scalar() == 1
    # One more charge to read the bucket: had any replay been charged, fewer tokens would remain.
    decision = sql_backend.acquire(f"{policy.name}:{{{team.id}}}", policy)
    assert decision.remaining == policy.burst - 2
