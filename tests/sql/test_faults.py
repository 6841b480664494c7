"""PostgreSQL connections killed in the middle of work: a 503, nothing half-done, then recovery."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
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
    IdempotencyClaim,
    MemoryBlobStore,
    MemoryRateLimiter,
    MintRequest,
    State,
    StoreUnavailable,
    SystemClock,
    Team,
    UploadTickets,
)
from upload_tickets.testing import image_bytes, make_ticket
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
    image = image_bytes("image/jpeg")
    tickets = [
        attrs.evolve(make_ticket(team="faulty", now_us=now), state=State.UPLOADED, size=len(image)) for _ in range(6)
    ]
    for ticket in tickets:
        backend.create(ticket)
        blobs.put(ticket.blob_key, [image], max_bytes=len(image), content_type=ticket.content_type)
    ids = [t.id for t in tickets]
    admin = psycopg.connect(sa.make_url(url).set(drivername="postgresql").render_as_string(), autocommit=True)
    kills: list[int] = []

    def kill_before_second_update(connection: sa.Connection, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith("UPDATE upload_tickets"):
            return
        seen = connection.info.get("updates", 0) + 1
        connection.info["updates"] = seen
        if seen % 2 == 0:  # after the first row of the transaction was updated
            pid = connection.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]  # psycopg's own connection behind SQLAlchemy's generic DBAPI type
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
    character = service.consume(Team("faulty"), ids).character
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
                pid = connection.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]  # psycopg's own connection behind SQLAlchemy's generic DBAPI type
            _terminate(admin, pid)
    assert backend.get("faulty", ticket.id) == ticket
    backend.dispose()


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://postgres@127.0.0.1:1/test", "mysql+pymysql://root@127.0.0.1:1/test"]
)
def test_a_server_that_is_down_is_store_unavailable_never_a_driver_error(url: str) -> None:
    backend = open_backend(url, attempts=2)
    service = sql_service(backend, SystemClock(), MemoryBlobStore())
    claim = IdempotencyClaim("consume", "k", "h", "chr_1", 1)
    for call in (
        lambda: service.mint(Team("down"), MintRequest("a.png", "png", "image/png")),
        lambda: service.consume(Team("down"), [make_ticket().id]).character,
        lambda: backend.acquire("k", CHARACTERS_POST),
        lambda: service.list_characters(Team("down")),
        lambda: backend.unsettled_characters(10),
        lambda: backend.claim_idempotency_key("down", claim, 0),
        lambda: backend.release_idempotency_key("down", claim),
        lambda: backend.purge_idempotency_claims(0, 10),
    ):
        with pytest.raises(StoreUnavailable) as caught:
            call()
        assert caught.value.http_status == 503
    backend.dispose()


class _AnswerLosingProxy:
    """A TCP proxy in front of PostgreSQL that can lose the answer to one request.

    Armed on one client connection, it still forwards that client's bytes to the
    server, but drops the server's next reply and then cuts every connection and
    refuses new ones (the database is out of reach) until :meth:`restore`.
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._armed_port: int | None = None
        self._down = False
        self.lost: list[bytes] = []
        self._spawn(self._accept)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, (_, client_port) = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                if self._down:
                    client.close()
                    continue
                server = socket.create_connection(self._target)
                self._sockets += [client, server]
            self._spawn(self._pump, client, server, None)
            self._spawn(self._pump, server, client, client_port)

    def _pump(self, source: socket.socket, sink: socket.socket, answers_to: int | None) -> None:
        try:
            while data := source.recv(65536):
                if answers_to is not None and answers_to == self._armed_port:
                    self.lost.append(data)
                    self._go_down()
                    return
                sink.sendall(data)
        except OSError:
            pass  # the other pump or _go_down closed the sockets
        for end in (source, sink):
            with _Quietly():
                end.shutdown(socket.SHUT_RDWR)

    def _go_down(self) -> None:
        with self._lock:
            self._down = True
            for end in self._sockets:
                with _Quietly():
                    end.shutdown(socket.SHUT_RDWR)
                end.close()
            self._sockets.clear()

    def arm(self, client_port: int) -> None:
        """Lose the next answer to the client connected from ``client_port``."""
        self._armed_port = client_port

    def restore(self) -> None:
        """Accept connections again (the ones cut stay cut)."""
        with self._lock:
            self._armed_port, self._down = None, False

    def close(self) -> None:
        """Stop listening and cut everything."""
        with _Quietly():
            # Wakes the accept() blocked in the other thread, which close() alone does not.
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._go_down()
        for thread in self._threads:
            thread.join(timeout=5)


class _Quietly:
    """Ignore ``OSError`` from closing a socket that may be closed already."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> bool:
        return kind is not None and issubclass(kind, OSError)


@pytest.fixture
def lossy_proxy() -> Iterator[_AnswerLosingProxy]:
    target = sa.make_url(require(POSTGRES_URL, "postgresql"))
    proxy = _AnswerLosingProxy(target.host or "127.0.0.1", target.port or 5432)
    yield proxy
    proxy.close()


def _client_port(dbapi_connection: Any) -> int:
    # psycopg hands out its socket's descriptor; a duplicate tells the local port without touching the connection.
    with socket.socket(fileno=os.dup(dbapi_connection.pgconn.socket)) as duplicate:
        port: int = duplicate.getsockname()[1]
    return port


def test_a_consume_whose_commit_answer_is_lost_is_503_then_its_retry_gets_the_same_character(
    lossy_proxy: _AnswerLosingProxy,
) -> None:
    url = sa.make_url(POSTGRES_URL)
    direct = open_backend(url.render_as_string(hide_password=False), create=True)
    proxied = url.set(host="127.0.0.1", port=lossy_proxy.port).render_as_string(hide_password=False)
    backend = open_backend(proxied, attempts=3)
    blobs = MemoryBlobStore()
    service = UploadTickets(
        store=backend, limiter=MemoryRateLimiter(), signer=make_signer(), blobs=blobs, clock=SystemClock()
    )
    # A team of its own: its idempotency key must be new even where an earlier run left claims.
    team, now = Team(f"lost_answer_{uuid.uuid4().hex}"), SystemClock().now_us()
    image = image_bytes("image/jpeg")
    tickets = [
        attrs.evolve(make_ticket(team=team.id, now_us=now), state=State.UPLOADED, size=len(image)) for _ in range(3)
    ]
    for ticket in tickets:
        direct.create(ticket)
        blobs.put(ticket.blob_key, [image], max_bytes=len(image), content_type=ticket.content_type)
    ids = [ticket.id for ticket in tickets]

    def note_the_character_insert(connection: sa.Connection, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO upload_ticket_characters"):
            connection.info["inserted_character"] = True

    def lose_the_commit_answer(connection: sa.Connection) -> None:
        # Only the consume's own COMMIT: its request reaches the server, its answer never comes back.
        if connection.info.pop("inserted_character", False):
            lossy_proxy.arm(_client_port(connection.connection.dbapi_connection))

    event.listen(backend.engine, "before_cursor_execute", note_the_character_insert)
    event.listen(backend.engine, "commit", lose_the_commit_answer)
    try:
        with pytest.raises(StoreUnavailable) as caught:
            service.consume(team, ids, idempotency_key="consume-once")
        assert caught.value.http_status == 503
    finally:
        event.remove(backend.engine, "before_cursor_execute", note_the_character_insert)
        event.remove(backend.engine, "commit", lose_the_commit_answer)
    # PostgreSQL's CommandComplete for COMMIT: the transaction ended, only the client never heard.
    assert lossy_proxy.lost[:1] == [b"C\x00\x00\x00\x0bCOMMIT\x00Z\x00\x00\x00\x05I"]

    # The write landed although the client was told the store was unavailable.
    stored = [ticket for ticket in direct.get_many(team.id, ids) if ticket is not None]
    assert {ticket.state for ticket in stored} == {State.CONSUMED}
    (character_id,) = {ticket.character_id for ticket in stored}
    assert character_id is not None
    assert direct.get_character(team.id, character_id) is not None

    lossy_proxy.restore()
    result = service.consume(team, ids, idempotency_key="consume-once")
    assert result.character.id == character_id
    assert [character.id for character in direct.list_characters(team.id, None, 10)] == [character_id]
    backend.dispose()
    direct.dispose()
