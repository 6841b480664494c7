"""Redis going away mid-run: 503-class errors, nothing half-done, recovery without a restart."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import redis

from tests.support import make_signer
from upload_tickets import (
    MemoryBlobStore,
    MintRequest,
    State,
    StoreUnavailable,
    SystemClock,
    Team,
    UploadTickets,
)
from upload_tickets.testing import make_ticket
from upload_tickets_redis import open_backend
from upload_tickets_redis.testing import RedisProcesses, start_single

REQUEST = MintRequest("f.png", "png", "image/png")


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcesses]:
    server = start_single(tmp_path)
    yield server
    server.stop()


def _service(url: str) -> UploadTickets:
    backend = open_backend(url)
    return UploadTickets(
        store=backend, limiter=backend, signer=make_signer(), blobs=MemoryBlobStore(), clock=SystemClock()
    )


def test_stopped_server_is_503_then_calls_succeed_once_it_is_back(own_redis: RedisProcesses) -> None:
    service = _service(own_redis.url)
    team = Team("faulty")
    assert service.mint(team, REQUEST).ticket.team == "faulty"
    own_redis.stop()
    for call in (lambda: service.mint(team, REQUEST), lambda: service.consume(team, [make_ticket().id])):
        with pytest.raises(StoreUnavailable) as caught:
            call()
        assert caught.value.http_status == 503
    own_redis.restart()
    # Same service object, no restart of the application.
    assert service.mint(team, REQUEST).ticket.team == "faulty"


def test_a_server_that_stops_answering_times_out_as_503_and_consumes_nothing(own_redis: RedisProcesses) -> None:
    service = _service(own_redis.url)
    now = SystemClock().now_us()
    tickets = [attrs.evolve(make_ticket(team="paused", now_us=now), state=State.UPLOADED, size=1) for _ in range(6)]
    for ticket in tickets:
        service.store.create(ticket)
    ids = [t.id for t in tickets]
    # CLIENT PAUSE holds every client for 3 s: longer than our 2 s socket timeout.
    redis.Redis(port=own_redis.ports[0]).client_pause(3000, all=True)
    with pytest.raises(StoreUnavailable):
        service.consume(Team("paused"), ids)
    subprocess.run(["redis-cli", "-p", str(own_redis.ports[0]), "CLIENT", "UNPAUSE"], check=True, capture_output=True)
    states = {t.state for t in service.store.get_many("paused", ids) if t is not None}
    assert states in ({State.UPLOADED}, {State.CONSUMED})  # all or nothing, never a mix
    if states == {State.UPLOADED}:
        assert service.consume(Team("paused"), ids).upload_ids == tuple(ids)
