"""The exported contract suite and state machine on a single Redis and on a Redis Cluster."""

from __future__ import annotations

import uuid

import pytest

from tests.services import REDIS_URL, require
from tests.support import run_state_machine
from upload_tickets.testing import RateLimiterContract, SweepLedgerContract, TicketStoreContract
from upload_tickets_redis import RedisBackend, open_backend


class TestRedisTicketStore(TicketStoreContract):
    @pytest.fixture
    def store(self, redis_backend: RedisBackend) -> RedisBackend:
        return redis_backend


class TestRedisSweepLedger(SweepLedgerContract):
    @pytest.fixture
    def ledger(self, redis_backend: RedisBackend) -> RedisBackend:
        return redis_backend


class TestRedisRateLimiter(RateLimiterContract):
    @pytest.fixture
    def limiter(self, redis_backend: RedisBackend) -> RedisBackend:
        return redis_backend


@pytest.mark.parametrize("topology", ["single", "cluster"])
def test_service_state_machine(topology: str, request: pytest.FixtureRequest) -> None:
    url = require(REDIS_URL, "redis") if topology == "single" else request.getfixturevalue("cluster_url")
    backend = open_backend(url, prefix=f"machine-{uuid.uuid4().hex[:8]}")

    try:
        run_state_machine(backend)
    finally:
        backend.clear()
        backend.close()
