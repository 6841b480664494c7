"""PostgreSQL connections killed in the middle of work: a 503, nothing half-done, then recovery."""

from __future__ import annotations

import time
from typing import Any

import attrs
import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tests.services import POSTGRES_URL, require
from tests.sql.conftest import sql_service
from tests.support import make_signer
from upload_tickets import (
    CHARACTERS_POST,
    MemoryBlobStore,
    MemoryRateLimiter,
    MintRequest,
    State,
    StoreUnavailable,
    SystemClock,
    Team,
    UploadTickets,
)
from upload_tickets.testing import make_ticket
from upload_tickets_sql import open_backend


def _terminate(admin: psycopg.Connection[Any], pid: int) -> None:
    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 5
    while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
        assert time.monotonic() < deadline, "backend did not exit"
        time.sleep(0.01)


def test_killed_connection_mid_consume_is_503_then_recovers() -> None:
    url = require(POSTGRES_URL, "postgresql")
    backend = open_backend(url, create=True, attempts=3)
    blobs = MemoryBlobStore()
    service = UploadTickets(
        store=backend, limiter=MemoryRateLimiter(), signer=make_signer(), blobs=blobs, clock=SystemClock()
    )
    now = SystemClock().now_us()
    tickets = [attrs.evolve(make_ticket(team="faulty", now_us=now), state=State.UPLOADED, size=1) for _ in range(6)]
    for ticket in tickets:
        backend.create(ticket)
        blobs.put(ticket.blob_key, [b"x"], max_bytes=1, content_type=ticket.content_type)
    ids = [t.id for t in tickets]
    admin = psycopg.connect(sa.make_url(url).set(drivername="postgresql").render_as_string(), autocommit=True)
    kills: list[int] = []

    def kill_before_second_update(connection: sa.Connection, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith("UPDATE upload_tickets"):
            return
        seen = connection.info.get("updates", 0) + 1
        connection.info["updates"] = seen
        if seen % 2 == 0:  # after the first row of the transaction was updated
            pid = connection.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
            kills.append(pid)
            _terminate(admin, pid)

    event.listen(backend.engine, "before_cursor_execute", kill_before_second_update)
    try:
        with pytest.raises(StoreUnavailable) as caught:
            service.consume(Team("faulty"), ids)
        assert caught.value.http_status == 503
        assert len(kills) == 3  # every attempt was cut, then the store gave up
        assert {t.state for t in backend.get_many("faulty", ids) if t is not None} == {State.UPLOADED}
    finally:
        event.remove(backend.engine, "before_cursor_execute", kill_before_second_update)
        admin.close()
    # Same application objects, no restart: the pool replaces the dead connections.
    character = service.consume(Team("faulty"), ids)
    assert {t.character_id for t in backend.get_many("faulty", ids) if t is not None} == {character.id}
    backend.dispose()


def test_killed_connection_between_calls_is_retried_transparently() -> None:
    url = require(POSTGRES_URL, "postgresql")
    backend = open_backend(url, create=True)
    ticket = make_ticket(team="faulty")
    backend.create(ticket)
    with psycopg.connect(sa.make_url(url).set(drivername="postgresql").render_as_string(), autocommit=True) as admin:
        for engine in (backend.engine, backend._single):
            with engine.connect() as connection:
                pid = connection.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
            _terminate(admin, pid)
    assert backend.get("faulty", ticket.id) == ticket
    backend.dispose()


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://postgres@127.0.0.1:1/test", "mysql+pymysql://root@127.0.0.1:1/test"]
)
def test_a_server_that_is_down_is_store_unavailable_never_a_driver_error(url: str) -> None:
    backend = open_backend(url, attempts=2)
    service = sql_service(backend, SystemClock(), MemoryBlobStore())
    for call in (
        lambda: service.mint(Team("down"), MintRequest("a.png", "png", "image/png")),
        lambda: service.consume(Team("down"), [make_ticket().id]),
        lambda: backend.acquire("k", CHARACTERS_POST),
        lambda: service.list_characters(Team("down")),
        lambda: backend.unsettled_characters(10),
    ):
        with pytest.raises(StoreUnavailable) as caught:
            call()
        assert caught.value.http_status == 503
    backend.dispose()
