"""Redis going away mid-run: 503-class errors, nothing half-done, recovery without a restart.

A Cluster with one master down is swept where it can be, and says where it could not.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import attrs
import pytest
import redis
import redis.cluster
import redis.exceptions

from tests.redis.support import redis_service
from upload_tickets import (
    CHARACTERS_POST,
    ManualClock,
    MemoryBlobStore,
    MemoryTeamDirectory,
    MintRequest,
    State,
    StoreUnavailable,
    SystemClock,
    Team,
    UploadTickets,
)
from upload_tickets.http import HttpApi
from upload_tickets.testing import image_bytes, make_character, make_ticket
from upload_tickets.testing.ownership import upload
from upload_tickets_redis import RedisBackend, open_backend
from upload_tickets_redis._backend import _mapped_errors
from upload_tickets_redis.testing import RedisProcesses, start_cluster, start_single

REQUEST = MintRequest("f.png", "png", "image/png")


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcesses]:
    server = start_single(tmp_path)
    yield server
    server.stop()


def _service(url: str) -> UploadTickets:
    return redis_service(open_backend(url), SystemClock(), MemoryBlobStore())


def test_stopped_server_is_503_then_calls_succeed_once_it_is_back(own_redis: RedisProcesses) -> None:
    service = _service(own_redis.url)
    team = Team("faulty")
    assert service.mint(team, REQUEST).ticket.team == "faulty"
    own_redis.stop()
    for call in (lambda: service.mint(team, REQUEST), lambda: service.consume(team, [make_ticket().id]).character):
        with pytest.raises(StoreUnavailable) as caught:
            call()
        assert caught.value.http_status == 503
    own_redis.restart()
    # Same service object, no restart of the application.
    assert service.mint(team, REQUEST).ticket.team == "faulty"


def test_a_server_that_stops_answering_times_out_as_503_and_consumes_nothing(own_redis: RedisProcesses) -> None:
    service = _service(own_redis.url)
    now = SystemClock().now_us()
    data = image_bytes("image/jpeg")
    tickets = [
        attrs.evolve(make_ticket(team="paused", now_us=now), state=State.UPLOADED, size=len(data)) for _ in range(6)
    ]
    for ticket in tickets:
        assert ticket.content_type == "image/jpeg"
        service.store.create(ticket)
        # A real image: consume checks the bytes of uploads classify has not checked.
        service.blobs.put(ticket.blob_key, [data], max_bytes=len(data), content_type=ticket.content_type)
    ids = [t.id for t in tickets]
    # CLIENT PAUSE holds every client for 3 s: longer than our 2 s socket timeout.
    redis.Redis(port=own_redis.ports[0]).client_pause(3000, all=True)
    with pytest.raises(StoreUnavailable):
        service.consume(Team("paused"), ids)
    subprocess.run(["redis-cli", "-p", str(own_redis.ports[0]), "CLIENT", "UNPAUSE"], check=True, capture_output=True)
    states = {t.state for t in service.store.get_many("paused", ids) if t is not None}
    assert states in ({State.UPLOADED}, {State.CONSUMED})  # all or nothing, never a mix
    if states == {State.UPLOADED}:
        assert service.consume(Team("paused"), ids).character.upload_ids == tuple(ids)


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[RedisProcesses]:
    # Its own cluster, since the test breaks it; masters keep serving while one is down.
    cluster = start_cluster(tmp_path, full_coverage=False)
    yield cluster
    cluster.stop()


def _node_port(client: redis.cluster.RedisCluster, key: str) -> int:
    port: int = client.get_node_from_key(key).port  # type: ignore[no-untyped-call]  # redis-py's cluster API is untyped
    return port


def _wait_until_marked_failed(survivor: int, port: int) -> None:
    """Wait until the cluster has agreed the node on ``port`` is down (after the node timeout)."""
    deadline = time.monotonic() + 30
    with redis.Redis(port=survivor, decode_responses=True) as client:
        while True:
            nodes = cast("dict[str, dict[str, str]]", client.cluster("NODES"))
            if "fail" in nodes[f"127.0.0.1:{port}"]["flags"].split(","):
                return
            assert time.monotonic() < deadline, "the cluster never marked the stopped master as failed"
            time.sleep(0.2)


def test_a_sweep_with_one_master_down_sweeps_the_rest_and_names_what_it_skipped(own_cluster: RedisProcesses) -> None:
    backend = open_backend(own_cluster.cluster_url, prefix="partial")
    try:
        _sweep_with_one_master_down(own_cluster, backend)
    finally:
        backend.close()


def _sweep_with_one_master_down(cluster: RedisProcesses, backend: RedisBackend) -> None:
    assert isinstance(backend.client, redis.cluster.RedisCluster)
    client = backend.client
    # The team set names every team: the master to stop must not be the one holding it.
    victim = next(port for port in cluster.ports if port != _node_port(client, "partial:teams"))
    candidates = [Team(f"team-{n}") for n in range(200)]
    on_victim = [t for t in candidates if _node_port(client, f"partial:{{{t.id}}}:exp") == victim][:2]
    elsewhere = [t for t in candidates if _node_port(client, f"partial:{{{t.id}}}:exp") != victim][:3]
    clock = ManualClock(SystemClock().now_us())
    service = redis_service(backend, clock, MemoryBlobStore())
    uploads = {team: upload(service, team) for team in on_victim + elsewhere}
    staged = {team: service.get(team, upload_id).blob_key for team, upload_id in uploads.items()}
    clock.advance(25 * 3600 * 1_000_000)
    cluster.stop_node(victim)
    _wait_until_marked_failed(cluster.ports[0], victim)

    report = service.sweep()

    assert len(report.skipped) == 1
    assert f":{victim}" in report.skipped[0]
    assert (report.tickets, report.blobs) == (len(elsewhere), len(elsewhere))
    for team in elsewhere:
        assert service.store.get(team.id, uploads[team]) is None
        assert service.blobs.head(staged[team]) is None
    for team in on_victim:
        assert service.blobs.head(staged[team]) is not None  # left for a later sweep
        with pytest.raises(StoreUnavailable):
            service.store.get(team.id, uploads[team])
    with pytest.raises(StoreUnavailable):
        backend.expired(clock.now_us(), 100)  # the all-or-error form still says it is partial


def test_every_call_on_a_cluster_with_every_node_down_is_503(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path)
    try:
        backend = open_backend(cluster.cluster_url, prefix="down")
        service = redis_service(backend, SystemClock(), MemoryBlobStore())
        team = Team("down")
        ticket = service.mint(team, REQUEST).ticket
        character = make_character([ticket])
        cluster.stop()
        calls: dict[str, Callable[[], object]] = {
            "mint": lambda: service.mint(team, REQUEST),
            "mint_many": lambda: service.mint_many(team, [REQUEST] * 2),
            "create": lambda: backend.create(make_ticket(team="down")),
            "get": lambda: backend.get("down", ticket.id),
            "get_many": lambda: backend.get_many("down", [ticket.id]),
            "find_by_idempotency_key": lambda: backend.find_by_idempotency_key("down", "k"),
            "replace": lambda: backend.replace([attrs.evolve(ticket, version=1)]),
            "consume": lambda: backend.consume([attrs.evolve(ticket, version=1)], character),
            "delete": lambda: backend.delete([ticket]),
            "expired": lambda: backend.expired(SystemClock().now_us(), 10),
            "expired_reachable": lambda: backend.expired_reachable(SystemClock().now_us(), 10),
            "get_character": lambda: backend.get_character("down", character.id),
            "list_characters": lambda: backend.list_characters("down", None, 10),
            "replace_character": lambda: backend.replace_character(attrs.evolve(character, version=1)),
            "delete_character": lambda: backend.delete_character(character),
            "unsettled_characters": lambda: backend.unsettled_characters(10),
            "acquire": lambda: backend.acquire("bucket:{down}", CHARACTERS_POST),
            "sweep": service.sweep,
            "open_backend": lambda: open_backend(cluster.cluster_url, prefix="down"),
        }
        for name, call in calls.items():
            with pytest.raises(StoreUnavailable) as caught:
                call()
            assert caught.value.http_status == 503, name
    finally:
        cluster.stop()


def test_the_service_and_its_http_api_on_a_cluster_with_every_node_down_answer_503(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path)

    def open_dark() -> RedisBackend:
        # Short timeouts: a node that is gone must not hold a request for long.
        return open_backend(cluster.cluster_url, prefix="dark", socket_timeout=0.5, socket_connect_timeout=0.5)

    try:
        backend = open_dark()
        service = redis_service(backend, SystemClock(), MemoryBlobStore())
        team, key = Team("dark"), "al_live_" + "x" * 24
        api = HttpApi(service, MemoryTeamDirectory({key: team}))
        upload_id = upload(service, team)
        cluster.stop()  # every node, by PID

        calls: dict[str, Callable[[], object]] = {
            "mint": lambda: service.mint(team, REQUEST),
            "get": lambda: service.get(team, upload_id),
            "consume": lambda: service.consume(team, [upload_id]),
            "sweep": service.sweep,
            "open_backend": open_dark,
        }
        outcomes: dict[str, str] = {}
        for name, call in calls.items():
            try:
                call()
                outcomes[name] = "no error"
            except Exception as error:  # anything but StoreUnavailable is the bug this test is for
                outcomes[name] = type(error).__name__
        assert outcomes == dict.fromkeys(calls, "StoreUnavailable")

        response = api.handle(
            "POST",
            "/v1/characters/uploads/init",
            "",
            {"x-api-key": key, "content-type": "application/json"},
            b'{"filename":"a.png","extension":"png","content_type":"image/png"}',
        )
        assert response.status == 503
        body = response.json()
        assert isinstance(body, dict)
        assert body["error"]["code"] == "store_unavailable"
        backend.close()
    finally:
        cluster.stop()


@pytest.mark.parametrize(
    "error",
    [
        redis.exceptions.RedisClusterException("no node"),  # type: ignore[no-untyped-call]  # redis-py's cluster API is untyped
        redis.exceptions.SlotNotCoveredError("slot 7"),  # type: ignore[no-untyped-call]  # redis-py's cluster API is untyped
        redis.exceptions.ClusterDownError("CLUSTERDOWN"),
        redis.exceptions.ChildDeadlockedError("forked"),
        redis.exceptions.TimeoutError("slow"),
    ],
    ids=type,
)
def test_every_family_of_driver_errors_is_503(error: Exception) -> None:
    with pytest.raises(StoreUnavailable) as caught, _mapped_errors:
        raise error
    assert caught.value.__cause__ is error
