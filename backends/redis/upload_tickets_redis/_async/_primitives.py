"""Where ``redis.asyncio`` differs from sync redis-py by nature; ``_sync/_primitives.py`` is the twin.

Hand-written on both sides: everything else in ``_async`` is turned into its sync twin
line by line.
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias, TypeVar

import redis.asyncio
import redis.asyncio.cluster
import redis.exceptions
from redis.commands.core import AsyncScript

from upload_tickets.backend_kit import shielded

#: Either kind of async client: one server, or a Cluster.
Client: TypeAlias = "redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster"
#: KEYS and ARGV of one script call.
ScriptCall: TypeAlias = "tuple[list[str], list[Any]]"

_T = TypeVar("_T")


def commands(client: Client) -> Any:
    """What the backend sends its commands through: ``client``, and on a Cluster, a client whose commands finish.

    redis-py's async Cluster client loses a connection from a node's pool when its caller
    is cancelled while a command or pipeline is on the wire (the connection is closed but
    never handed back; the sync client and the single-server pool have no such gap). So
    there every command and pipeline, once started, runs to its reply, at most
    ``socket_timeout``, and a cancelled caller gets its cancellation then: a command on
    the wire may have run anyway, so the caller learns nothing less.

    Typed ``Any``: redis-py types each command as "a reply or an awaitable of it".
    """
    if isinstance(client, redis.asyncio.cluster.RedisCluster):
        return _RunToTheEnd(client)
    return client


class _RunToTheEnd:
    """A Cluster client or pipeline whose coroutine calls run to their end even if the caller is cancelled."""

    __slots__ = ("_target",)

    def __init__(self, target: redis.asyncio.cluster.RedisCluster | redis.asyncio.cluster.ClusterPipeline) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            target = self._target
            if inspect.iscoroutine(result):
                if isinstance(target, redis.asyncio.cluster.RedisCluster) and target._initialize:
                    return shielded(_started_then, target, result)
                return shielded(_itself, result)
            if isinstance(result, redis.asyncio.cluster.ClusterPipeline):
                return _RunToTheEnd(result)
            # Anything else (a script object, a SCAN iterator, ...) as it is.
            return result

        return call


# One lock per Cluster client, held while its first command starts it.
_STARTING: weakref.WeakKeyDictionary[redis.asyncio.cluster.RedisCluster, asyncio.Lock] = weakref.WeakKeyDictionary()


async def _started_then(client: redis.asyncio.cluster.RedisCluster, command: Awaitable[_T]) -> _T:
    # redis-py's async Cluster client races its own start-up when several first commands
    # arrive at once (it drops node connections another task is still opening): the first
    # command starts it alone, with one connection opened to every node, then all go on.
    async with _STARTING.setdefault(client, asyncio.Lock()):
        if client._initialize:
            await client.initialize()
            await client.ping(target_nodes=redis.asyncio.cluster.RedisCluster.ALL_NODES)  # type: ignore[misc]  # redis-py types replies as "value or awaitable"
    return await command


def _itself(awaitable: _T) -> _T:
    return awaitable


async def to_the_end(function: Callable[..., Awaitable[_T]], *args: object) -> _T:
    """``function(*args)``, run to its end even if the caller is cancelled meanwhile (who then gets the cancellation).

    For steps that must not stop halfway (a script and the write that keeps it findable).
    """
    return await shielded(function, *args)


def node_name(client: redis.asyncio.cluster.RedisCluster, key: str) -> str:
    """The name of the Cluster node serving ``key``'s slot (``RedisClusterException`` if none does)."""
    node = client.get_node_from_key(key)
    assert node is not None  # None stands for a missing replica; this asks for the primary
    return f"redis node {node.name}"


async def run_script_batch(client: Client, script: AsyncScript, key: str, calls: Sequence[ScriptCall]) -> list[Any]:
    """``script`` once per ``(keys, args)``, pipelined in one round trip on the node serving ``key``'s slot.

    A batch is one team, so every key in it lives on that one node. On one server the
    pipeline loads the script first, as redis-py's sync pipeline does. An async Cluster
    pipeline takes raw ``EVALSHA``: calls that find the script missing on the node
    (``NOSCRIPT``: they did not run) are sent again whole with ``EVAL``, in order.
    """
    if not isinstance(client, redis.asyncio.cluster.RedisCluster):
        pipe = client.pipeline(transaction=False)
        for keys, args in calls:
            await script(keys=keys, args=args, client=pipe)
        return await pipe.execute()
    replies = await _cluster_pipeline(client, [(script.sha, keys, args) for keys, args in calls])
    missing = [i for i, reply in enumerate(replies) if isinstance(reply, redis.exceptions.NoScriptError)]
    if missing:
        source = script.script.decode() if isinstance(script.script, bytes) else str(script.script)
        again = await _cluster_pipeline(client, [(source, *calls[i]) for i in missing], command="EVAL")
        for i, reply in zip(missing, again, strict=True):
            replies[i] = reply
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


async def _cluster_pipeline(
    client: redis.asyncio.cluster.RedisCluster,
    calls: Sequence[tuple[str, list[str], list[Any]]],
    command: str = "EVALSHA",
) -> list[Any]:
    pipe = client.pipeline(transaction=False)
    for script, keys, args in calls:
        pipe.execute_command(command, script, len(keys), *keys, *args)
    return await shielded(pipe.execute, False)  # raise_on_error=False; see ``commands`` for the shield


async def close_client(client: Client) -> None:
    """Close the client's connections (on a Cluster, every node's)."""
    await client.aclose()


__all__ = ["Client", "ScriptCall", "close_client", "commands", "node_name", "run_script_batch", "to_the_end"]
