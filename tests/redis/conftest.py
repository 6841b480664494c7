"""Redis topologies: the machine's Redis (single node) and a 3-node Cluster the tests start."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.services import REDIS_URL, require
from upload_tickets_redis import RedisBackend, open_backend
from upload_tickets_redis.testing import start_cluster

TOPOLOGIES = ["single", "cluster"]


@pytest.fixture(scope="session")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cluster = start_cluster(tmp_path_factory.mktemp("redis-cluster"))
    yield cluster.cluster_url
    cluster.stop()


@pytest.fixture(params=TOPOLOGIES)
def redis_url(request: pytest.FixtureRequest) -> str:
    if request.param == "single":
        return require(REDIS_URL, "redis")
    url: str = request.getfixturevalue("cluster_url")
    return url


@pytest.fixture
def prefix() -> str:
    # A prefix per test: tests never see each other's keys on the shared server.
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def redis_backend(redis_url: str, prefix: str) -> Iterator[RedisBackend]:
    backend = open_backend(redis_url, prefix=prefix)
    backend.clear()
    yield backend
    backend.clear()
    backend.close()
