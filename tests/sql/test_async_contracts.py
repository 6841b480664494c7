"""``AsyncSqlBackend`` passes the exported sync suites on SQLite, PostgreSQL and MariaDB; a mint is one round trip.

Every call goes through :func:`~upload_tickets.testing.blocking.blocking` onto ONE event
loop for the whole session (the ``portal`` fixture), as an app's long-lived loop would
run it, on each dialect's default async-flavour driver (``ASYNC_DRIVERS``). The service
suites drive ``AsyncUploadTickets`` itself, so its one-call mint (``create_if_allowed``)
is the one exercised. The round trips of a mint are counted on the wire, by a proxy
that reads PostgreSQL's protocol.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from anyio.from_thread import BlockingPortal
from hypothesis import settings

from tests.services import POSTGRES_URL, require
from tests.sql.conftest import async_file_blobs, async_sql_service, async_url, sql_service
from upload_tickets import (
    AsyncMemoryBlobStore,
    ManualClock,
    MemoryBlobStore,
    MintRequest,
    MintResult,
    SystemClock,
    Team,
)
from upload_tickets.testing import (
    RateLimiterContract,
    ServiceOwnershipContract,
    ServiceRulesContract,
    SweepLedgerContract,
    TicketStoreContract,
    blocking,
    make_ticket,
    service_state_machine,
    sweep_consume_race,
)
from upload_tickets.testing.ownership import ServiceFactory
from upload_tickets_sql import AsyncSqlBackend, async_open_backend, open_backend

PNG = MintRequest("f.png", "png", "image/png")


class TestAsyncSqlTicketStore(TicketStoreContract):
    @pytest.fixture
    def store(self, async_sql_backend: AsyncSqlBackend, portal: BlockingPortal) -> Any:
        return blocking(async_sql_backend, portal)


class TestAsyncSqlSweepLedger(SweepLedgerContract):
    @pytest.fixture
    def ledger(self, async_sql_backend: AsyncSqlBackend, portal: BlockingPortal) -> Any:
        return blocking(async_sql_backend, portal)


class TestAsyncSqlRateLimiter(RateLimiterContract):
    @pytest.fixture
    def limiter(self, async_sql_backend: AsyncSqlBackend, portal: BlockingPortal) -> Any:
        return blocking(async_sql_backend, portal)


class TestAsyncSqlRules(ServiceRulesContract):
    @pytest.fixture
    def service_factory(
        self, async_sql_backend: AsyncSqlBackend, portal: BlockingPortal, tmp_path: Path
    ) -> ServiceFactory:
        return lambda clock: blocking(
            async_sql_service(async_sql_backend, clock, async_file_blobs(tmp_path / "blobs")), portal
        )


class TestAsyncSqlOwnership(ServiceOwnershipContract):
    @pytest.fixture
    def service_factory(
        self, async_sql_backend: AsyncSqlBackend, portal: BlockingPortal, tmp_path: Path
    ) -> ServiceFactory:
        return lambda clock: blocking(
            async_sql_service(async_sql_backend, clock, async_file_blobs(tmp_path / "blobs")), portal
        )


def test_async_service_state_machine(async_sql_backend: AsyncSqlBackend, portal: BlockingPortal) -> None:
    def make_service(clock: ManualClock) -> Any:
        portal.call(async_sql_backend.clear)
        return blocking(
            async_sql_service(async_sql_backend, clock, AsyncMemoryBlobStore(), max_upload_bytes=4096), portal
        )

    # The limiter keeps the database's time: refusals are allowed but not predicted.
    machine = service_state_machine(make_service, exact_rate_limit=False)
    # Fewer examples than the sync machine's 200 x 50: the logic is the same source; this
    # proves the async drivers' round trips under it, which 15 runs of 30 steps cover.
    machine.TestCase.settings = settings(max_examples=15, stateful_step_count=30, deadline=None)
    machine.TestCase("runTest").runTest()


def test_sweep_and_consume_never_race_to_a_loss(
    async_sql_backend: AsyncSqlBackend, portal: BlockingPortal, tmp_path: Path
) -> None:
    # Fewer rounds than the sync suite's 300, at the default 80 ms TTL (an upload through the
    # portal takes a good part of 30 ms on MariaDB): both orderings still come up every run.
    outcome = sweep_consume_race(
        lambda clock: blocking(async_sql_service(async_sql_backend, clock, async_file_blobs(tmp_path)), portal),
        rounds=30,
    )
    assert outcome.lost == 0
    # Both orderings happened, so the race was real.
    assert outcome.consumed > 0
    assert outcome.expired > 0


# One round trip per mint on PostgreSQL, counted on the wire.

_SSL_REQUEST, _GSSENC_REQUEST = 80877103, 80877104


class _WireCounter:
    """A TCP proxy in front of PostgreSQL that follows the protocol's framing both ways.

    A round trip is a request the client ends with Sync, Query or Flush, then waits on
    (asyncpg prepares a statement with Parse, Describe, Flush before its Bind, Execute,
    Sync); pipelined requests would count one each. Messages are counted before they are
    forwarded, so a call that has returned has been counted whole.
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        #: Type bytes of the client's messages and of the server's, since the last reset.
        self.sent: list[bytes] = []
        self.answered: list[bytes] = []
        self._spawn(self._accept)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            server = socket.create_connection(self._target)
            self._sockets += [client, server]
            # SSL or GSS encryption requests the server answers with one byte ("N": no) before any message.
            negotiations: list[int] = []
            self._spawn(self._pump, client, server, self.sent, negotiations, True)
            self._spawn(self._pump, server, client, self.answered, negotiations, False)

    def _pump(
        self, source: socket.socket, sink: socket.socket, types: list[bytes], negotiations: list[int], client: bool
    ) -> None:
        buffer, startup = b"", client
        try:
            while data := source.recv(65536):
                buffer += data
                while True:
                    if not client and negotiations and buffer:
                        assert buffer[:1] == b"N", f"the server accepted encryption ({buffer[:1]!r}): cannot count"
                        negotiations.pop()
                        buffer = buffer[1:]
                        continue
                    if startup:  # untyped: length, then a request code or protocol version
                        if len(buffer) < 8 or len(buffer) < (size := struct.unpack("!I", buffer[:4])[0]):
                            break
                        code = struct.unpack("!I", buffer[4:8])[0]
                        if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                            negotiations.append(code)
                        else:
                            startup = False
                        buffer = buffer[size:]
                        continue
                    if len(buffer) < 5 or len(buffer) < 1 + (size := struct.unpack("!I", buffer[1:5])[0]):
                        break
                    types.append(buffer[:1])
                    buffer = buffer[1 + size :]
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def reset(self) -> None:
        self.sent.clear()
        self.answered.clear()

    @property
    def round_trips(self) -> int:
        """Requests the client ended (with Sync, Query or Flush) since the last reset."""
        return sum(kind in (b"S", b"Q", b"H") for kind in self.sent)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            # Wakes the accept() blocked in the other thread, which close() alone does not.
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for end in self._sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture
def wire() -> Iterator[_WireCounter]:
    target = sa.make_url(require(POSTGRES_URL, "postgresql"))
    counter = _WireCounter(target.host or "127.0.0.1", target.port or 5432)
    yield counter
    counter.close()


def _through(wire: _WireCounter) -> str:
    return sa.make_url(POSTGRES_URL).set(host="127.0.0.1", port=wire.port).render_as_string(hide_password=False)


def test_a_mint_on_postgresql_is_one_round_trip(wire: _WireCounter, portal: BlockingPortal) -> None:
    # No TLS: the proxy reads the protocol in the clear.
    url = async_url(_through(wire))
    backend = portal.call(lambda: async_open_backend(url, create=True, connect_args={"ssl": False}))
    service = async_sql_service(backend, SystemClock(), AsyncMemoryBlobStore())

    async def mint_twice() -> MintResult:
        # The first mint opens the connection and prepares the statement.
        await service.mint(Team("trip"), PNG)
        wire.reset()
        return await service.mint(Team("trip"), PNG)

    try:
        result = portal.call(mint_twice)
        assert wire.round_trips == 1, (wire.sent, wire.answered)
        # Its one answer: the server ended it once, in autocommit (idle, no transaction left open).
        assert wire.answered.count(b"Z") == 1, wire.answered
        assert portal.call(backend.get, "trip", result.ticket.id) == result.ticket
    finally:
        portal.call(backend.aclose)


def test_the_counter_sees_every_round_trip(wire: _WireCounter, portal: BlockingPortal) -> None:
    # The count can fail: a statement new to the connection is prepared first, and a
    # transaction of one statement costs BEGIN and COMMIT besides.
    backend = portal.call(lambda: async_open_backend(async_url(_through(wire)), connect_args={"ssl": False}))
    absent = "upl_01HXMQ7Z3K8Y2NABCDEFGHJKMR"
    try:
        assert portal.call(backend.get, "trip", absent) is None
        wire.reset()
        assert portal.call(backend.get_many, "trip", [absent]) == [None]
        assert wire.round_trips == 2, wire.sent
        wire.reset()
        assert portal.call(backend.get_many, "trip", [absent]) == [None]
        assert wire.round_trips == 1, wire.sent
        ticket = make_ticket(team="trip")
        portal.call(backend.create, make_ticket(team="trip"))
        wire.reset()
        assert portal.call(backend.create, ticket) == ticket
        assert wire.round_trips == 3, wire.sent
    finally:
        portal.call(backend.aclose)


def test_the_sync_flavour_mints_in_one_round_trip_too(wire: _WireCounter) -> None:
    backend = open_backend(_through(wire), create=True, connect_args={"sslmode": "disable"})
    service = sql_service(backend, SystemClock(), MemoryBlobStore())
    try:
        service.mint(Team("trip"), PNG)
        wire.reset()
        result = service.mint(Team("trip"), PNG)
        assert wire.round_trips == 1, (wire.sent, wire.answered)
        assert wire.answered.count(b"Z") == 1, wire.answered
        assert backend.get("trip", result.ticket.id) == result.ticket
    finally:
        backend.dispose()
