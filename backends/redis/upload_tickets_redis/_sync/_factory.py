# Generated from the _async folder by scripts/unasync.py: edit that source, then run it.
"""Open a Redis backend (``RedisBackend``) from a URL; the sync twin is generated from this file."""

from __future__ import annotations

from typing import Any

import redis
import redis.cluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from upload_tickets import Backend
from upload_tickets_redis._errors import mapped_errors
from upload_tickets_redis._sync._backend import RedisBackend
from upload_tickets_redis._sync._primitives import Client

# Fail fast when Redis is unreachable: the caller gets a 503 instead of a hung request.
_TIMEOUTS = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}


def open_backend(url: str, *, prefix: str = "ut", grace_ms: int | None = None, **client_options: Any) -> RedisBackend:
    """Open ``redis://``, ``rediss://``, ``unix://``, or ``redis+cluster://host:port`` (``rediss+cluster``).

    Schemes are case-insensitive (``REDIS://`` too), as in any URL.
    """
    options = {**_TIMEOUTS, **client_options, "decode_responses": True}
    scheme, separator, rest = url.partition("://")
    # redis-py matches schemes in lower case only.
    scheme = scheme.lower()
    client: Client
    if scheme.endswith("+cluster"):
        # redis-py's Cluster client resends a command that timed out or lost its
        # connection, which may have run already: a charge would be taken twice, a consume
        # would find its own tickets moved on. Like the single-node client made from a URL,
        # it sends each command once; the caller retries, with its idempotency key.
        options.setdefault("retry", Retry(NoBackoff(), 0))
        # The sync Cluster client connects at once, to learn the slots (the async one on its
        # first command): no node answering is a 503 too.
        cluster_url = f"{scheme.removesuffix('+cluster')}://{rest}"
        with mapped_errors:
            client = redis.cluster.RedisCluster.from_url(cluster_url, **options)
    else:
        client = redis.Redis.from_url(f"{scheme}{separator}{rest}", **options)
    extra = {} if grace_ms is None else {"grace_ms": grace_ms}
    return RedisBackend(client, prefix=prefix, **extra)


def backend_from_url(url: str, *, create: bool = True, clock: object = None, **options: Any) -> Backend:
    """Entry point for ``upload_tickets.backend_from_url``: one object is store and limiter.

    ``create`` and ``clock`` are accepted and ignored: Redis needs no schema, and the rate
    limits are timed by Redis ``TIME``, never by an application clock (so skewed app
    servers cannot over-admit). The URL's scheme may be in any case (``REDIS://``).
    """
    backend = open_backend(url, **options)
    return Backend(store=backend, limiter=backend)


__all__ = ["backend_from_url", "open_backend"]
