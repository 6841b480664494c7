"""``AsyncRedisBackend`` passes the exported sync suites, on a single Redis and on a Redis Cluster.

Every call goes through :func:`~upload_tickets.testing.blocking.blocking` onto ONE event
loop for the whole session (the ``portal`` fixture), as an app's long-lived loop would
run it; the service suites drive ``AsyncUploadTickets`` itself, so its one-script mint
(``create_if_allowed``) and batch mint are the ones exercised.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal
from hypothesis import settings

from tests.redis.conftest import opened_async_backend
from tests.services import REDIS_URL, require
from tests.support import make_signer
from upload_tickets import (
    AsyncBackend,
    AsyncMemoryBlobStore,
    AsyncUploadTickets,
    ManualClock,
    MintRequest,
    MintResult,
    RateLimited,
    State,
    SystemClock,
    Team,
    async_backend_from_url,
)
from upload_tickets.protocols import Clock
from upload_tickets.testing import (
    RateLimiterContract,
    ServiceRulesContract,
    SweepLedgerContract,
    TicketStoreContract,
    blocking,
    service_state_machine,
)
from upload_tickets.testing.ownership import ServiceFactory
from upload_tickets_redis import AsyncRedisBackend

PNG = MintRequest("f.png", "png", "image/png")


def async_service(backend: AsyncRedisBackend, clock: Clock, **options: Any) -> AsyncUploadTickets:
    """An ``AsyncUploadTickets`` whose store and limiter are ``backend`` (so a mint is one script)."""
    return AsyncUploadTickets(
        store=backend, limiter=backend, signer=make_signer(), blobs=AsyncMemoryBlobStore(), clock=clock, **options
    )


def _url(topology: str, request: pytest.FixtureRequest) -> str:
    if topology == "single":
        return require(REDIS_URL, "redis")
    url: str = request.getfixturevalue("cluster_url")
    return url


class TestAsyncRedisTicketStore(TicketStoreContract):
    @pytest.fixture
    def store(self, async_redis_backend: AsyncRedisBackend, portal: BlockingPortal) -> Any:
        return blocking(async_redis_backend, portal)


class TestAsyncRedisSweepLedger(SweepLedgerContract):
    @pytest.fixture
    def ledger(self, async_redis_backend: AsyncRedisBackend, portal: BlockingPortal) -> Any:
        return blocking(async_redis_backend, portal)


class TestAsyncRedisRateLimiter(RateLimiterContract):
    @pytest.fixture
    def limiter(self, async_redis_backend: AsyncRedisBackend, portal: BlockingPortal) -> Any:
        return blocking(async_redis_backend, portal)


class TestAsyncRedisRules(ServiceRulesContract):
    @pytest.fixture
    def service_factory(self, async_redis_backend: AsyncRedisBackend, portal: BlockingPortal) -> ServiceFactory:
        return lambda clock: blocking(async_service(async_redis_backend, clock), portal)


@pytest.mark.parametrize("topology", ["single", "cluster"])
def test_async_service_state_machine(topology: str, request: pytest.FixtureRequest, portal: BlockingPortal) -> None:
    with opened_async_backend(portal, _url(topology, request), prefix=f"machine-{uuid.uuid4().hex[:8]}") as backend:

        def make_service(clock: ManualClock) -> Any:
            portal.call(backend.clear)
            return blocking(async_service(backend, clock, max_upload_bytes=4096), portal)

        # The limiter keeps Redis time: refusals are allowed but not predicted.
        machine = service_state_machine(make_service, exact_rate_limit=False)
        # Fewer examples than the sync machine's 200: the logic is the same source; this
        # proves the async backend's round trips, which 50 runs of 50 steps cover.
        machine.TestCase.settings = settings(max_examples=50, stateful_step_count=50, deadline=None)
        machine.TestCase("runTest").runTest()


def test_a_mint_is_one_round_trip(
    async_redis_backend: AsyncRedisBackend, portal: BlockingPortal, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = async_service(async_redis_backend, SystemClock())
    client = async_redis_backend.client
    sent: list[str] = []

    async def mint_twice() -> MintResult:
        # The team's first mint also lists it for the sweeper (and may load the script).
        await service.mint(Team("trip"), PNG)
        send = client.execute_command

        async def counted(*args: Any, **options: Any) -> Any:
            sent.append(str(args[0]))
            return await send(*args, **options)

        monkeypatch.setattr(client, "execute_command", counted)
        return await service.mint(Team("trip"), PNG)

    result = portal.call(mint_twice)
    assert isinstance(result, MintResult)
    assert sent == ["EVALSHA"]


def test_mint_many_pipelines_and_still_rate_limits(
    async_redis_backend: AsyncRedisBackend, portal: BlockingPortal
) -> None:
    service = blocking(async_service(async_redis_backend, SystemClock()), portal)
    results = service.mint_many(Team("batch"), [PNG] * 61)
    minted = [r for r in results if isinstance(r, MintResult)]
    assert len(minted) == 60
    assert isinstance(results[60], RateLimited)
    stored = portal.call(async_redis_backend.get_many, "batch", [r.ticket.id for r in minted])
    assert all(t is not None and t.state is State.MINTED for t in stored)


def test_scripts_flushed_from_the_server_are_sent_again(
    async_redis_backend: AsyncRedisBackend, portal: BlockingPortal
) -> None:
    # After a restart or failover a node knows no script: single mints and batches alike send it whole.
    service = blocking(async_service(async_redis_backend, SystemClock()), portal)
    assert isinstance(service.mint(Team("flush"), PNG), MintResult)
    portal.call(async_redis_backend.client.script_flush)
    assert isinstance(service.mint(Team("flush"), PNG), MintResult)
    portal.call(async_redis_backend.client.script_flush)
    results = service.mint_many(Team("flush"), [PNG] * 3)
    assert all(isinstance(r, MintResult) for r in results)
    ids = [r.ticket.id for r in results if isinstance(r, MintResult)]
    assert all(t is not None for t in portal.call(async_redis_backend.get_many, "flush", ids))


@pytest.mark.parametrize("topology", ["single", "cluster"])
def test_the_registry_gives_the_native_async_backend(
    topology: str, request: pytest.FixtureRequest, portal: BlockingPortal
) -> None:
    url = _url(topology, request)
    backend = portal.call(lambda: async_backend_from_url(url.replace("redis", "REDIS", 1), prefix="registry"))
    store = backend.store
    try:
        assert isinstance(backend, AsyncBackend)
        # Not the worker-thread wrapper, and one object, so a mint stays one script.
        assert type(store) is AsyncRedisBackend
        assert backend.limiter is store
        assert portal.call(store.get, "team", "upl_missing") is None
    finally:
        if isinstance(store, AsyncRedisBackend):
            portal.call(store.aclose)
