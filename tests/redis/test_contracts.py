"""The exported contract suite and state machine on a single Redis and on a Redis Cluster."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import settings

from tests.services import REDIS_URL, require
from tests.support import make_signer
from upload_tickets import ManualClock, MemoryBlobStore, TTLPolicy, UploadTickets
from upload_tickets.testing import RateLimiterContract, TicketStoreContract, service_state_machine
from upload_tickets_redis import RedisBackend, open_backend


class TestRedisTicketStore(TicketStoreContract):
    @pytest.fixture
    def store(self, redis_backend: RedisBackend) -> RedisBackend:
        return redis_backend


class TestRedisRateLimiter(RateLimiterContract):
    @pytest.fixture
    def limiter(self, redis_backend: RedisBackend) -> RedisBackend:
        return redis_backend


@pytest.mark.parametrize("topology", ["single", "cluster"])
def test_service_state_machine(topology: str, request: pytest.FixtureRequest) -> None:
    url = require(REDIS_URL, "redis") if topology == "single" else request.getfixturevalue("cluster_url")
    backend = open_backend(url, prefix=f"machine-{uuid.uuid4().hex[:8]}")

    def make_service(clock: ManualClock) -> UploadTickets:
        backend.clear()
        return UploadTickets(
            store=backend,
            limiter=backend,
            signer=make_signer(),
            blobs=MemoryBlobStore(),
            clock=clock,
            ttl=TTLPolicy(max_upload_bytes=4096),
        )

    machine = service_state_machine(make_service, exact_rate_limit=False)
    machine.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
    try:
        machine.TestCase("runTest").runTest()
    finally:
        backend.clear()
        backend.close()
