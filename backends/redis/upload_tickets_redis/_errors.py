"""How redis-py's errors reach callers: one mapping for both flavours (both raise ``redis.exceptions``)."""

from __future__ import annotations

import redis.exceptions
from redis.exceptions import ClusterError, RedisClusterException

from upload_tickets.backend_kit import map_errors

# Everything redis-py raises, every family of its exceptions module: RedisError is not
# the only root (RedisClusterException - no Cluster node reachable, a slot not covered -
# and ChildDeadlockedError are plain Exceptions), and a release may add another.
DRIVER_ERRORS: tuple[type[Exception], ...] = tuple(
    error
    for error in vars(redis.exceptions).values()
    if isinstance(error, type) and issubclass(error, Exception) and error.__module__ == "redis.exceptions"
)
# Driver errors end here: callers see ``StoreUnavailable`` (503), never redis-py's. It keeps
# no state, so one instance serves every call, thread and task (a with-block around awaits too).
mapped_errors = map_errors(DRIVER_ERRORS, "Redis is unavailable")
# What says a part of the store cannot be reached now (rather than that a call is wrong).
UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ClusterError, RedisClusterException)

__all__ = ["DRIVER_ERRORS", "UNREACHABLE", "mapped_errors"]
