"""The sync twins of ``_async/_primitives.py``: where sync redis-py differs from ``redis.asyncio``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias, TypeVar

import redis
import redis.cluster
from redis.commands.core import Script

#: Either kind of client: one server, or a Cluster.
Client: TypeAlias = "redis.Redis | redis.cluster.RedisCluster"
#: KEYS and ARGV of one script call.
ScriptCall: TypeAlias = "tuple[list[str], list[Any]]"

_T = TypeVar("_T")


def commands(client: Client) -> Any:
    """What the backend sends its commands through: ``client`` itself (a sync call is not cancelled halfway).

    Typed ``Any``: redis-py types each command as "a reply or an awaitable of it".
    """
    return client


def node_name(client: redis.cluster.RedisCluster, key: str) -> str:
    """The name of the Cluster node serving ``key``'s slot (``RedisClusterException`` if none does)."""
    node = client.get_node_from_key(key)  # type: ignore[no-untyped-call]  # redis-py's cluster API is untyped
    return f"redis node {node.name}"


def run_script_batch(client: Client, script: Script, key: str, calls: Sequence[ScriptCall]) -> list[Any]:
    """``script`` once per ``(keys, args)``, pipelined in one round trip on the node serving ``key``'s slot.

    redis-py refuses scripts in Cluster pipelines; a batch is one team, so every key in
    it lives on that one node anyway: the pipeline is that node's.
    """
    if isinstance(client, redis.cluster.RedisCluster):
        node = client.get_node_from_key(key)  # type: ignore[no-untyped-call]  # redis-py's cluster API is untyped
        pipe = client.get_redis_connection(node).pipeline(transaction=False)
    else:
        pipe = client.pipeline(transaction=False)
    for keys, args in calls:
        script(keys=keys, args=args, client=pipe)
    return pipe.execute()


def to_the_end(function: Callable[..., _T], *args: object) -> _T:
    """Call ``function`` right here: sync code is not cancelled halfway."""
    return function(*args)


def close_client(client: Client) -> None:
    """Close the client's connection pools (on a Cluster, each node's)."""
    if isinstance(client, redis.cluster.RedisCluster):
        # RedisCluster.close() leaves the pools of node clients made from a URL open.
        for node in client.get_nodes():  # type: ignore[no-untyped-call]  # redis-py's cluster API is untyped
            if node.redis_connection is not None:
                node.redis_connection.connection_pool.disconnect()
    client.close()


__all__ = ["Client", "ScriptCall", "close_client", "commands", "node_name", "run_script_batch", "to_the_end"]
