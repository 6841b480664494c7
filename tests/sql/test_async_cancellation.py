"""``AsyncUploadTickets`` on ``AsyncSqlBackend``, cancelled at every await of mint, receive, classify and consume.

The harness of ``tests/test_async_cancellation.py`` on PostgreSQL (asyncpg), where a mint
is one statement; on MariaDB (aiomysql) and SQLite (sqlite3 on a thread of its own) too.
Besides cancelling as a call starts and as it returns, two phases reach into the
backend: at the call's first suspension (before its first request) and once asyncpg has
written a request, while its reply is awaited. Every database attempt runs to its end
under a cancellation, so what each leaves is the state before the operation or after it.

Right after each cancellation the pools are checked: no connection checked out of
either engine (transactions and autocommit statements), none the server still holds in
a transaction, and a burst of different calls at once gets every caller its own answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints
import attrs
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_cursor

from tests.services import POSTGRES_URL, require
from tests.sql.conftest import DIALECTS, async_url, dialect_url
from tests.test_async_cancellation import SCENARIOS, SENDING, Env, Mode, Phase, cancel_everywhere, make_env
from upload_tickets import RateDecision, RatePolicy, State, SystemClock, UploadTicket
from upload_tickets.testing import make_ticket
from upload_tickets_sql import AsyncSqlBackend, async_open_backend, open_backend

_PROBE = RatePolicy(name="probe", limit=10, period=1, burst=5)


def _pools(backend: AsyncSqlBackend) -> list[Any]:
    """The pools of both engines: transactions' and autocommit statements' (one engine on SQLite)."""
    engines = {id(engine): engine for engine in (backend.engine, backend._single)}
    return [getattr(engine, "sync_engine", engine).pool for engine in engines.values()]


@attrs.define
class PoolCheck:
    """Checks ``backend``'s pools right after a cancellation, with tickets of a team of its own."""

    backend: AsyncSqlBackend
    #: On PostgreSQL: a connection of its own, and the name the backend's connections go by.
    admin: asyncpg.Connection | None = None
    application_name: str | None = None

    async def __call__(self) -> None:
        for pool in _pools(self.backend):
            assert pool.checkedout() == 0, f"a connection is still checked out after the call: {pool.status()}"
        if self.admin is not None:
            states = await self.admin.fetch(
                "SELECT pid, state FROM pg_stat_activity WHERE application_name = $1", self.application_name
            )
            assert states, "the backend's connections are not where they were looked for"
            assert {row["state"] for row in states} == {"idle"}, f"a connection left mid-transaction: {states}"
        team = f"pool-{uuid.uuid4().hex[:12]}"
        tickets = [make_ticket(team=team, now_us=SystemClock().now_us()) for _ in range(6)]
        backend, ids = self.backend, [t.id for t in tickets]
        assert list(await asyncio.gather(*(backend.create(t) for t in tickets))) == tickets
        answers = await asyncio.gather(
            *(backend.get(team, ticket_id) for ticket_id in ids[:3]),
            backend.acquire(f"probe:{{{team}}}", _PROBE),
            backend.get_many(team, ids[::-1]),
            backend.find_by_idempotency_key(team, "never-used"),
            backend.get_character(team, "chr_01HXMQ7Z3K8Y2NABCDEFGHJKMR"),
            *(backend.get(team, ticket_id) for ticket_id in ids[3:]),
        )
        assert [*answers[:3], *answers[7:]] == tickets, "a get was answered with another call's rows"
        decision = answers[3]
        assert isinstance(decision, RateDecision), decision
        assert (decision.allowed, decision.remaining) == (True, _PROBE.burst - 1)
        assert answers[4] == tickets[::-1]
        assert answers[5] is None
        assert answers[6] is None
        for pool in _pools(self.backend):
            assert pool.checkedout() == 0, pool.status()


@pytest.fixture
def report_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tell the running trap once asyncpg has written a statement's first request (``Phase.SENT``)."""
    original: Callable[..., Awaitable[Any]] = AsyncAdapt_asyncpg_cursor._prepare_and_execute

    async def prepare_and_execute(self: AsyncAdapt_asyncpg_cursor, operation: Any, parameters: Any) -> Any:
        trap = SENDING.get()
        if trap is not None:
            # Called back at the statement's first suspension: its request is written, its reply awaited.
            asyncio.get_running_loop().call_soon(trap.request_sent)
        return await original(self, operation, parameters)

    monkeypatch.setattr(AsyncAdapt_asyncpg_cursor, "_prepare_and_execute", prepare_and_execute)


def _on_sql(step: str) -> bool:
    return step.startswith("AsyncSqlBackend.")


@contextlib.asynccontextmanager
async def _opened(url: str) -> AsyncIterator[tuple[AsyncSqlBackend, PoolCheck]]:
    """An async backend on ``url`` (PostgreSQL: named, with an admin connection to watch it by), and its check."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "postgresql":
        backend = async_open_backend(async_url(url), create=True)
        try:
            yield backend, PoolCheck(backend)
        finally:
            await backend.aclose()
        return
    # Tables made under another name: a setup's closed connections may linger a moment in pg_stat_activity.
    open_backend(url, create=True).dispose()
    name = f"ut-cancel-{uuid.uuid4().hex[:8]}"
    backend = async_open_backend(async_url(url), connect_args={"server_settings": {"application_name": name}})
    admin = await asyncpg.connect(parsed.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        yield backend, PoolCheck(backend, admin, name)
    finally:
        await admin.close()
        await backend.aclose()


_INSIDE_THE_BACKEND = (Phase.INSIDE, Phase.SENT)


@pytest.mark.usefixtures("report_requests")
@pytest.mark.parametrize(
    ("mode", "phases"),
    [
        (Mode.NATIVE, (Phase.BEFORE, Phase.AFTER, *_INSIDE_THE_BACKEND)),
        (Mode.SCOPE, _INSIDE_THE_BACKEND),
        (Mode.TIMEOUT, _INSIDE_THE_BACKEND),
    ],
    ids=["native", "scope", "timeout"],
)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_cancelled_anywhere_on_postgresql_leaves_no_half_change_and_healthy_pools(
    name: str, mode: Mode, phases: tuple[Phase, ...]
) -> None:
    url = require(POSTGRES_URL, "postgresql")

    async def main() -> None:
        async with _opened(url) as (backend, pool_check):

            async def fresh() -> Env:
                # One backend (two pools) for the whole run; the rows of the previous round go.
                await backend.clear()
                return make_env(backend, backend, after_cancel=pool_check)

            await cancel_everywhere(fresh, SCENARIOS[name], mode, phases, networked=_on_sql)
            await backend.clear()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("mode", "phases"),
    [
        (Mode.NATIVE, (Phase.BEFORE, Phase.AFTER, Phase.INSIDE)),
        (Mode.SCOPE, (Phase.INSIDE,)),
        (Mode.TIMEOUT, (Phase.INSIDE,)),
    ],
    ids=["native", "scope", "timeout"],
)
@pytest.mark.parametrize("dialect", [d for d in DIALECTS if d != "postgresql"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_cancelled_anywhere_on_the_other_dialects_leaves_no_half_change_and_healthy_pools(
    name: str, dialect: str, mode: Mode, phases: tuple[Phase, ...], tmp_path: Path
) -> None:
    # SENT is left out (its hook is asyncpg's): aiomysql waits on the loop as asyncpg does, sqlite3 on a thread.
    url = dialect_url(dialect, tmp_path)

    async def main() -> None:
        async with _opened(url) as (backend, pool_check):

            async def fresh() -> Env:
                await backend.clear()
                return make_env(backend, backend, after_cancel=pool_check)

            await cancel_everywhere(fresh, SCENARIOS[name], mode, phases, networked=_on_sql)
            await backend.clear()

    asyncio.run(main())


# A cancelled caller waits for its statement: what it sent commits (or rolls back) whole.


async def _replace_in(mode: Mode, backend: AsyncSqlBackend, updated: UploadTicket, cancels: list[Any]) -> bool | None:
    """``backend.replace([updated])``, cancellable per ``mode`` (the way to cancel it put in ``cancels``).

    ``None``: a cancel scope ended it (the scope swallows its own cancellation). A scope
    cancels at the caller's next checkpoint: when the call itself has none left after its
    statement, it returns, so the caller checkpoints once more, as its code would go on.
    """
    if mode is Mode.SCOPE:
        with anyio.CancelScope() as scope:
            cancels.append(scope.cancel)
            done = await backend.replace([updated])
            await anyio.lowlevel.checkpoint()
            return done
        return None
    if mode is Mode.TIMEOUT:
        async with asyncio.timeout(None) as timeout:
            loop = asyncio.get_running_loop()
            cancels.append(lambda: timeout.reschedule(loop.time()))
            return await backend.replace([updated])
    task = asyncio.current_task()
    assert task is not None
    cancels.append(task.cancel)
    return await backend.replace([updated])


@pytest.mark.parametrize("mode", list(Mode), ids=[m.name.lower() for m in Mode])
def test_a_call_cancelled_while_its_transaction_waits_on_a_lock_commits_then_is_cancelled(mode: Mode) -> None:
    url = require(POSTGRES_URL, "postgresql")

    async def main() -> None:
        async with _opened(url) as (backend, pool_check):
            assert pool_check.admin is not None
            await backend.clear()
            ticket = make_ticket(team="locked")
            await backend.create(ticket)
            updated = attrs.evolve(ticket, state=State.UPLOADED, version=ticket.version + 1)
            admin = pool_check.admin
            holder = admin.transaction()
            await holder.start()
            await admin.execute("SELECT 1 FROM upload_tickets WHERE id = $1 FOR UPDATE", ticket.id)
            cancels: list[Any] = []
            task = asyncio.create_task(_replace_in(mode, backend, updated, cancels))
            try:
                # The replace's UPDATE waits on the row lock the admin holds.
                for _ in range(500):
                    waiting = await admin.fetchval(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE application_name = $1 AND wait_event_type = 'Lock'",
                        pool_check.application_name,
                    )
                    if waiting:
                        break
                    await asyncio.sleep(0.01)
                assert waiting == 1, "the replace never waited on the lock"
                (cancel,) = cancels
                cancel()
                await asyncio.sleep(0.2)
                assert not task.done(), "the cancelled caller left while its transaction still ran"
            finally:
                await holder.rollback()
            if mode is Mode.SCOPE:
                assert await task is None, "the scope's cancellation never landed"
            else:
                with pytest.raises(asyncio.CancelledError if mode is Mode.NATIVE else TimeoutError):
                    await task
            # Its transaction ran to its end: committed, nothing held, the pools whole.
            assert await backend.get("locked", ticket.id) == updated
            await pool_check()

    asyncio.run(main())
