"""The facade's rules on a single Redis and on a Redis Cluster."""

from __future__ import annotations

import pytest

from tests.redis.support import redis_service
from upload_tickets import MemoryBlobStore
from upload_tickets.testing import ServiceRulesContract
from upload_tickets.testing.ownership import ServiceFactory
from upload_tickets_redis import RedisBackend


class TestRedisRules(ServiceRulesContract):
    @pytest.fixture
    def service_factory(self, redis_backend: RedisBackend) -> ServiceFactory:
        return lambda clock: redis_service(redis_backend, clock, MemoryBlobStore())
