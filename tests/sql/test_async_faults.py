"""The async flavour's faults: asyncpg connections killed mid-work, a lost COMMIT answer, retries that await.

``test_faults.py`` for ``AsyncSqlBackend`` on asyncpg: a killed connection is a 503 with
nothing half-done, then the pool recovers; a consume whose COMMIT answer is lost is
recognised on its retry. The connections killed are the backend's own, found by the
server pid asyncpg reports and checked against the ``application_name`` the backend
was opened with. And the runner's bounded retries await their pause: while a call is
between attempts, another task on the same loop runs.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiomysql  # type: ignore[import-untyped]  # aiomysql ships no type hints
import attrs
import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tests.services import MARIADB_URL, POSTGRES_URL, require
from tests.sql.conftest import async_url
from tests.sql.test_faults import _AnswerLosingProxy
from tests.support import make_signer
from upload_tickets import (
    CHARACTERS_POST,
    AsyncMemoryBlobStore,
    AsyncMemoryRateLimiter,
    AsyncUploadTickets,
    IdempotencyClaim,
    MintRequest,
    RatePolicy,
    State,
    StoreUnavailable,
    SystemClock,
    Team,
)
from upload_tickets.testing import image_bytes, make_ticket
from upload_tickets_sql import AsyncSqlBackend, async_open_backend, open_backend

_DOWN = {
    "postgresql": "postgresql+asyncpg://postgres@127.0.0.1:1/test",
    "mariadb": "mysql+aiomysql://root@127.0.0.1:1/test",
}


def _sync_engine(engine: Any) -> sa.Engine:
    """The sync engine the statements run on (the backend may hold an ``AsyncEngine`` or that engine itself)."""
    sync: sa.Engine = getattr(engine, "sync_engine", engine)
    return sync


def _admin(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(sa.make_url(url).set(drivername="postgresql").render_as_string(), autocommit=True)


def _terminate(admin: psycopg.Connection[Any], pid: int) -> None:
    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 5
    while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
        assert time.monotonic() < deadline, "backend did not exit"
        time.sleep(0.01)


def _asyncpg(connection: sa.Connection) -> Any:
    """The asyncpg connection under a SQLAlchemy connection (its DBAPI adapter keeps it as ``_connection``)."""
    return connection.connection.dbapi_connection._connection  # type: ignore[union-attr]  # the asyncpg adapter behind SQLAlchemy's generic DBAPI type


def _open(url: str, application_name: str, **options: Any) -> AsyncSqlBackend:
    """An async backend on asyncpg whose connections PostgreSQL lists under ``application_name``, tables made.

    The tables are made by a backend of another name: the connections of a setup, closed
    as it ends, may linger a moment in ``pg_stat_activity``, and must not be counted.
    """
    open_backend(url, create=True).dispose()
    return async_open_backend(
        async_url(url), connect_args={"server_settings": {"application_name": application_name}}, **options
    )


def _service(backend: AsyncSqlBackend, blobs: AsyncMemoryBlobStore) -> AsyncUploadTickets:
    return AsyncUploadTickets(
        store=backend, limiter=AsyncMemoryRateLimiter(), signer=make_signer(), blobs=blobs, clock=SystemClock()
    )


async def _uploaded(backend: AsyncSqlBackend, blobs: AsyncMemoryBlobStore, team: str, count: int) -> list[str]:
    """``count`` tickets of ``team`` uploaded (their bytes in ``blobs``), stored through ``backend``; their ids."""
    now, image = SystemClock().now_us(), image_bytes("image/jpeg")
    tickets = [
        attrs.evolve(make_ticket(team=team, now_us=now), state=State.UPLOADED, size=len(image)) for _ in range(count)
    ]
    for ticket in tickets:
        assert await backend.create(ticket) == ticket
        await blobs.put(ticket.blob_key, _one(image), max_bytes=len(image), content_type=ticket.content_type)
    return [ticket.id for ticket in tickets]


async def _one(data: bytes) -> Any:
    yield data


def test_killed_connection_mid_consume_is_503_then_recovers() -> None:
    url = require(POSTGRES_URL, "postgresql")
    name = f"ut-kill-{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        backend = _open(url, name, attempts=3)
        blobs = AsyncMemoryBlobStore()
        service = _service(backend, blobs)
        ids = await _uploaded(backend, blobs, "faulty", 6)
        admin = _admin(url)
        kills: list[int] = []

        def kill_before_second_update(connection: sa.Connection, cursor: Any, statement: str, *args: Any) -> None:
            if not statement.startswith("UPDATE upload_tickets"):
                return
            seen = connection.info.get("updates", 0) + 1
            connection.info["updates"] = seen
            if seen % 2 == 0:  # after the first row of the transaction was updated
                pid = _asyncpg(connection).get_server_pid()
                # The backend's own connection: the server lists it under the name it was opened with.
                row = admin.execute("SELECT application_name FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
                assert row == (name,), row
                kills.append(pid)
                _terminate(admin, pid)

        engine = _sync_engine(backend.engine)
        event.listen(engine, "before_cursor_execute", kill_before_second_update)
        try:
            with pytest.raises(StoreUnavailable) as caught:
                await service.consume(Team("faulty"), ids)
            assert caught.value.http_status == 503
            assert len(kills) == 3  # every attempt was cut, then the store gave up
            assert len(set(kills)) == 3  # each on a fresh connection: the pool dropped the dead ones
            assert {t.state for t in await backend.get_many("faulty", ids) if t is not None} == {State.UPLOADED}
        finally:
            event.remove(engine, "before_cursor_execute", kill_before_second_update)
            admin.close()
        # Same application objects, no restart: the pool replaces the dead connections.
        character = (await service.consume(Team("faulty"), ids)).character
        assert {t.character_id for t in await backend.get_many("faulty", ids) if t is not None} == {character.id}
        await backend.aclose()

    asyncio.run(main())


def test_killed_connections_between_calls_are_retried_transparently() -> None:
    url = require(POSTGRES_URL, "postgresql")
    name = f"ut-idle-{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        backend = _open(url, name)
        ticket = make_ticket(team="faulty")
        # One connection in each pool: a transaction's and an autocommit statement's.
        await backend.create(ticket)
        assert await backend.get("faulty", ticket.id) == ticket
        with _admin(url) as admin:
            pids = [
                pid for (pid,) in admin.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (name,))
            ]
            assert len(pids) == 2, pids
            for pid in pids:
                _terminate(admin, pid)
            assert await backend.get("faulty", ticket.id) == ticket
            other = make_ticket(team="faulty")
            assert await backend.create(other) == other
            # New connections under the same name replaced the killed ones.
            now = {
                pid for (pid,) in admin.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (name,))
            }
            assert now, pids
            assert not now & set(pids), (pids, now)
        assert await backend.get_many("faulty", [ticket.id, other.id]) == [ticket, other]
        await backend.aclose()

    asyncio.run(main())


def _calls(backend: AsyncSqlBackend, service: AsyncUploadTickets) -> list[Callable[[], Awaitable[object]]]:
    claim = IdempotencyClaim("consume", "k", "h", "chr_1", 1)
    return [
        lambda: service.mint(Team("down"), MintRequest("a.png", "png", "image/png")),
        lambda: service.consume(Team("down"), [make_ticket().id]),
        lambda: backend.acquire("k", CHARACTERS_POST),
        lambda: service.list_characters(Team("down")),
        lambda: backend.unsettled_characters(10),
        lambda: backend.claim_idempotency_key("down", claim, 0),
        lambda: backend.release_idempotency_key("down", claim),
        lambda: backend.purge_idempotency_claims(0, 10),
    ]


@pytest.mark.parametrize(
    "server",
    ["postgresql", "mariadb"],
)
def test_a_server_that_is_down_is_store_unavailable_never_a_driver_error(server: str) -> None:
    async def main() -> None:
        backend = async_open_backend(_DOWN[server], attempts=2)
        service = AsyncUploadTickets(
            store=backend, limiter=backend, signer=make_signer(), blobs=AsyncMemoryBlobStore(), clock=SystemClock()
        )
        try:
            for call in _calls(backend, service):
                with pytest.raises(StoreUnavailable) as caught:
                    await call()
                assert caught.value.http_status == 503
        finally:
            await backend.aclose()

    asyncio.run(main())


@pytest.mark.parametrize(
    "server",
    ["postgresql", "mariadb"],
)
def test_creating_tables_on_a_server_that_is_down_is_store_unavailable(server: str) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        async_open_backend(_DOWN[server], create=True)
    assert caught.value.http_status == 503
    assert "127.0.0.1:1" in caught.value.message
    assert "start it" in caught.value.message


def test_retries_await_their_pause_while_other_tasks_run() -> None:
    # MariaDB refuses the connection at once (port 1): every attempt fails fast and is
    # retried after a jittered pause. Each attempt is timed by the connection factory.
    require(MARIADB_URL, "mariadb")
    attempts = 8

    async def main() -> None:
        loop = asyncio.get_running_loop()
        tried: list[tuple[float, float]] = []

        async def connect() -> Any:
            started = loop.time()
            try:
                return await aiomysql.connect(host="127.0.0.1", port=1, user="root", db="test")
            finally:
                tried.append((started, loop.time()))

        backend = async_open_backend(_DOWN["mariadb"], attempts=attempts, async_creator=connect)
        ticks: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                ticks.append(loop.time())
                await asyncio.sleep(0.001)

        ticking = asyncio.create_task(ticker())
        try:
            with pytest.raises(StoreUnavailable):
                # A rate-limit charge: a connection that cannot be had is retried on this path.
                await backend.acquire("k", CHARACTERS_POST)
        finally:
            stop.set()
            await ticking
            await backend.aclose()
        assert len(tried) == attempts, tried  # bounded: exactly the attempts allowed
        pauses = [(ended, next_start) for (_, ended), (next_start, _) in itertools.pairwise(tried)]
        # The jitter may make a pause short; over seven of them up to 0.64 s, some are long.
        long_pauses = [(start, end) for start, end in pauses if end - start >= 0.02]
        assert long_pauses, pauses
        for start, end in long_pauses:
            inside = [start, *(tick for tick in ticks if start < tick < end), end]
            # The loop ran the ticker all through the pause: no stretch of it without a tick.
            longest = max(later - earlier for earlier, later in itertools.pairwise(inside))
            assert longest < (end - start) / 2, (
                f"the loop was held {longest * 1000:.1f} ms of a {(end - start) * 1000:.1f} ms pause"
            )

    asyncio.run(main())


def test_a_sqlite_call_waiting_on_the_write_lock_waits_off_the_loop(tmp_path: Path) -> None:
    # SQLite's async flavour runs sqlite3 on a thread of its own: a call waiting out busy_timeout holds only that.
    path = tmp_path / "tickets.db"
    policy = RatePolicy("locked", limit=1, period=60, burst=5)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        backend = async_open_backend(f"sqlite:///{path}", create=True, busy_timeout_ms=5_000)
        assert (await backend.acquire("k", policy)).remaining == 4
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")  # the write lock, held by another connection
        ticks: list[float] = []
        try:
            call = asyncio.create_task(backend.acquire("k", policy))
            started = loop.time()
            while loop.time() - started < 0.3:
                ticks.append(loop.time())
                await asyncio.sleep(0.001)
            assert not call.done(), "the charge did not wait for the write lock"
        finally:
            locker.rollback()
            locker.close()
        assert (await call).remaining == 3
        await backend.aclose()
        # The loop kept running while the charge waited: no stretch of 50 ms without a tick.
        assert len(ticks) > 30, f"the loop ticked {len(ticks)} times in 0.3 s"
        assert max(later - earlier for earlier, later in itertools.pairwise(ticks)) < 0.05

    asyncio.run(main())


@pytest.fixture
def lossy_proxy() -> Iterator[_AnswerLosingProxy]:
    """``test_faults.py``'s proxy that can lose one answer, in front of this run's PostgreSQL."""
    target = sa.make_url(require(POSTGRES_URL, "postgresql"))
    proxy = _AnswerLosingProxy(target.host or "127.0.0.1", target.port or 5432)
    yield proxy
    proxy.close()


def _client_port(asyncpg_connection: Any) -> int:
    # The local port of asyncpg's socket (its transport, which asyncpg keeps private).
    port: int = asyncpg_connection._transport.get_extra_info("sockname")[1]
    return port


def test_a_consume_whose_commit_answer_is_lost_is_503_then_its_retry_gets_the_same_character(
    lossy_proxy: _AnswerLosingProxy,
) -> None:
    url = sa.make_url(POSTGRES_URL)
    proxied = url.set(host="127.0.0.1", port=lossy_proxy.port).render_as_string(hide_password=False)

    async def main() -> None:
        direct = async_open_backend(async_url(url.render_as_string(hide_password=False)), create=True)
        # No TLS through the proxy: it reads the server's answers to find the one to lose.
        backend = async_open_backend(async_url(proxied), attempts=3, connect_args={"ssl": False})
        blobs = AsyncMemoryBlobStore()
        service = _service(backend, blobs)
        # A team of its own: its idempotency key must be new even where an earlier run left claims.
        team = Team(f"lost_answer_{uuid.uuid4().hex}")
        ids = await _uploaded(direct, blobs, team.id, 3)

        def note_the_character_insert(connection: sa.Connection, cursor: Any, statement: str, *args: Any) -> None:
            if statement.startswith("INSERT INTO upload_ticket_characters"):
                connection.info["inserted_character"] = True

        def lose_the_commit_answer(connection: sa.Connection) -> None:
            # Only the consume's own COMMIT: its request reaches the server, its answer never comes back.
            if connection.info.pop("inserted_character", False):
                lossy_proxy.arm(_client_port(_asyncpg(connection)))

        engine = _sync_engine(backend.engine)
        event.listen(engine, "before_cursor_execute", note_the_character_insert)
        event.listen(engine, "commit", lose_the_commit_answer)
        try:
            with pytest.raises(StoreUnavailable) as caught:
                await service.consume(team, ids, idempotency_key="consume-once")
            assert caught.value.http_status == 503
        finally:
            event.remove(engine, "before_cursor_execute", note_the_character_insert)
            event.remove(engine, "commit", lose_the_commit_answer)
        # PostgreSQL's CommandComplete for COMMIT: the transaction ended, only the client never heard.
        assert lossy_proxy.lost[:1] == [b"C\x00\x00\x00\x0bCOMMIT\x00Z\x00\x00\x00\x05I"]

        # The write landed although the client was told the store was unavailable.
        stored = [ticket for ticket in await direct.get_many(team.id, ids) if ticket is not None]
        assert {ticket.state for ticket in stored} == {State.CONSUMED}
        (character_id,) = {ticket.character_id for ticket in stored}
        assert character_id is not None
        assert await direct.get_character(team.id, character_id) is not None

        lossy_proxy.restore()
        result = await service.consume(team, ids, idempotency_key="consume-once")
        assert result.character.id == character_id
        assert [character.id for character in await direct.list_characters(team.id, None, 10)] == [character_id]
        await backend.aclose()
        await direct.aclose()

    asyncio.run(main())
