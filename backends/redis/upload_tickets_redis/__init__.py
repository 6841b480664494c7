"""Redis ticket store and rate limiter for upload-tickets (single node or Redis Cluster)."""

from __future__ import annotations

from typing import Any

import redis
import redis.cluster

from upload_tickets import Backend
from upload_tickets_redis._backend import RedisBackend, _mapped_errors

# Fail fast when Redis is unreachable: the caller gets a 503 instead of a hung request.
_TIMEOUTS = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}


def open_backend(url: str, *, prefix: str = "ut", grace_ms: int | None = None, **client_options: Any) -> RedisBackend:
    """Open ``redis://``, ``rediss://``, ``unix://``, or ``redis+cluster://host:port`` (``rediss+cluster``)."""
    options = {**_TIMEOUTS, **client_options, "decode_responses": True}
    scheme, _, rest = url.partition("://")
    client: redis.Redis | redis.cluster.RedisCluster
    if scheme.endswith("+cluster"):
        # A Cluster client connects at once, to learn the slots: no node answering is a 503 too.
        with _mapped_errors():
            client = redis.cluster.RedisCluster.from_url(f"{scheme.removesuffix('+cluster')}://{rest}", **options)
    else:
        client = redis.Redis.from_url(url, **options)
    extra = {} if grace_ms is None else {"grace_ms": grace_ms}
    return RedisBackend(client, prefix=prefix, **extra)


def backend_from_url(url: str, *, create: bool = True, clock: object = None, **options: Any) -> Backend:
    """Entry point for ``upload_tickets.backend_from_url``: one object is store and limiter.

    ``create`` and ``clock`` are accepted and unused: Redis needs no schema, and Redis
    ``TIME`` is the limiter's clock.
    """
    backend = open_backend(url, **options)
    return Backend(store=backend, limiter=backend)


__all__ = ["RedisBackend", "backend_from_url", "open_backend"]
