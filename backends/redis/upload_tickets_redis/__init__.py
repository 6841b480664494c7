"""Redis ticket store and rate limiter for upload-tickets (single node or Redis Cluster), sync and async.

``AsyncRedisBackend`` (on ``redis.asyncio``) is the one source of the logic; the sync
``RedisBackend`` is generated from it (``scripts/unasync.py``).
"""

from __future__ import annotations

from upload_tickets_redis._async._backend import AsyncRedisBackend
from upload_tickets_redis._async._factory import async_backend_from_url, async_open_backend
from upload_tickets_redis._sync._backend import RedisBackend
from upload_tickets_redis._sync._factory import backend_from_url, open_backend

__all__ = [
    "AsyncRedisBackend",
    "RedisBackend",
    "async_backend_from_url",
    "async_open_backend",
    "backend_from_url",
    "open_backend",
]
