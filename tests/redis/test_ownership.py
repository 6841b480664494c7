"""Characters own their bytes on a single Redis and on a Redis Cluster; a sweep racing a consume loses nothing."""

from __future__ import annotations

import pytest

from tests.redis.support import redis_service
from upload_tickets import MemoryBlobStore
from upload_tickets.testing import ServiceOwnershipContract, sweep_consume_race
from upload_tickets.testing.ownership import ServiceFactory
from upload_tickets_redis import RedisBackend


class TestOwnershipOnRedis(ServiceOwnershipContract):
    @pytest.fixture
    def service_factory(self, redis_backend: RedisBackend) -> ServiceFactory:
        return lambda clock: redis_service(redis_backend, clock, MemoryBlobStore())


def test_sweep_and_consume_never_race_to_a_loss(redis_backend: RedisBackend) -> None:
    outcome = sweep_consume_race(lambda clock: redis_service(redis_backend, clock, MemoryBlobStore()), rounds=300)
    assert outcome.lost == 0
    # Both orderings happened, so the race was real.
    assert outcome.consumed > 0
    assert outcome.expired > 0
