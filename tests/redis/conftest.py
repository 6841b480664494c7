"""Redis topologies: this run's own Redis (single node, ``tests/services.py``) and a 3-node Cluster."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs
import pytest
import redis.cluster
from anyio.from_thread import BlockingPortal

from tests.redis.proxy import LossyProxy
from tests.services import REDIS_URL, require
from upload_tickets.testing import event_loop_thread
from upload_tickets_redis import AsyncRedisBackend, RedisBackend, async_open_backend, open_backend
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
    # A prefix per test: tests never see each other's keys, even on a Redis that REDIS_URL shares.
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def redis_backend(redis_url: str, prefix: str) -> Iterator[RedisBackend]:
    backend = open_backend(redis_url, prefix=prefix)
    backend.clear()
    yield backend
    backend.clear()
    backend.close()


@attrs.define
class LossyRedis:
    """A backend whose every connection runs through a :class:`LossyProxy` (one per node)."""

    backend: RedisBackend
    proxies: list[LossyProxy]

    @contextmanager
    def losing_reply_to(self, source: str) -> Iterator[None]:
        """Inside, the first call of the Lua script ``source`` runs and its connection is cut before the reply."""
        # Loaded first, so the call goes out as EVALSHA, which names the script by its SHA.
        self.backend.client.script_load(source)
        sha = hashlib.sha1(source.encode()).hexdigest().encode()
        for proxy in self.proxies:
            proxy.lose_reply_to(sha)
        try:
            yield
        finally:
            for proxy in self.proxies:
                proxy.disarm()

    @property
    def lost_a_reply(self) -> bool:
        """True once a proxy has cut a connection for the trap."""
        return any(proxy.sprung.is_set() for proxy in self.proxies)


def _node_addresses(cluster_url: str) -> list[tuple[str, int]]:
    with redis.cluster.RedisCluster.from_url(cluster_url.replace("redis+cluster://", "redis://")) as client:
        return [(node.host, int(node.port)) for node in client.get_nodes()]


@pytest.fixture
def lossy_redis(redis_url: str, prefix: str) -> Iterator[LossyRedis]:
    parts = urlsplit(redis_url)
    cluster = parts.scheme.endswith("+cluster")
    upstreams = _node_addresses(redis_url) if cluster else [(parts.hostname or "127.0.0.1", parts.port or 6379)]
    proxies = [LossyProxy(upstream) for upstream in upstreams]
    via = dict(zip(upstreams, (proxy.address for proxy in proxies), strict=True))
    userinfo = parts.netloc.rpartition("@")[0]
    host, port = proxies[0].address
    url = urlunsplit(parts._replace(netloc=f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"))
    # The Cluster names its nodes by their own addresses: the client reaches them through the proxies.
    options: dict[str, Any] = {"address_remap": lambda address: via.get(address, address)} if cluster else {}
    backend = open_backend(url, prefix=prefix, socket_timeout=2.0, **options)
    try:
        yield LossyRedis(backend, proxies)
        backend.clear()
    finally:
        backend.close()
        for proxy in proxies:
            proxy.close()


@pytest.fixture(scope="session")
def portal() -> Iterator[BlockingPortal]:
    """One event loop, in a thread, for every async Redis test of the session (as an app's loop)."""
    with event_loop_thread() as portal:
        yield portal


@contextmanager
def opened_async_backend(portal: BlockingPortal, url: str, **options: Any) -> Iterator[AsyncRedisBackend]:
    """An ``AsyncRedisBackend`` made, cleared and closed on ``portal``'s loop (its connections belong to it)."""
    backend = portal.call(lambda: async_open_backend(url, **options))
    try:
        portal.call(backend.clear)
        yield backend
        portal.call(backend.clear)
    finally:
        portal.call(backend.aclose)


@pytest.fixture
def async_redis_backend(redis_url: str, prefix: str, portal: BlockingPortal) -> Iterator[AsyncRedisBackend]:
    """:func:`redis_backend`, async flavour: its calls must run on ``portal`` (``blocking(backend, portal)``)."""
    with opened_async_backend(portal, redis_url, prefix=prefix) as backend:
        yield backend
