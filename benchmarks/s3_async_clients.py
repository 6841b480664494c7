"""S3 from one process: ``AsyncS3BlobStore`` (httpx) next to aiobotocore's client and to boto3 in threads.

Against s3rver on a loopback port, each client runs a HEAD of one object, and a
promotion (a HEAD of the missing target, then a server-side copy with
``x-amz-copy-source-if-match``: ``AsyncS3BlobStore.promote``, the same two requests on
the other clients), from 1 and 16 concurrent tasks (threads for boto3), in alternating
rounds. Each figure is a median over rounds, in µs per operation: the wall time (the
inverse of throughput; against s3rver, a single Node process, mostly the server's time)
and this process's user CPU time (what the client library itself costs: s3rver runs
apart, and the kernel's share of loopback TCP, billed to the sender, is left out).

aiobotocore pins one exact botocore release, so it is no dependency of the project: run
this from a throwaway virtualenv that has it (without it that column is skipped)::

    python3.11 -m venv /tmp/aiobench && /tmp/aiobench/bin/pip install aiobotocore -e . -e backends/s3
    /tmp/aiobench/bin/python -m benchmarks.s3_async_clients
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import itertools
import os
import statistics
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from tests.s3.servers import S3Server, install_s3rver, s3rver_installed, s3rver_running
from upload_tickets_s3 import AsyncS3BlobStore

CONCURRENCY = (1, 16)
_STAGED = "staged/bench/upl_bench"
_BODY = b"\x89PNG" + bytes(1020)  # a 1 KiB object

AsyncOperation = Callable[[int], Awaitable[object]]
SyncOperation = Callable[[int], object]


def _aiobotocore() -> Any | None:
    """aiobotocore's session module, or ``None`` when it is not installed here."""
    try:
        return importlib.import_module("aiobotocore.session")
    except ModuleNotFoundError:
        return None


Cost = tuple[float, float]  # wall and user CPU µs per operation


async def _tasks_us(operation: AsyncOperation, tasks: int, seconds: float, numbers: Iterator[int]) -> Cost:
    """µs per operation of ``tasks`` tasks running ``operation`` back to back for ``seconds``."""
    done = 0
    cpu = os.times().user
    start = time.perf_counter()
    deadline = start + seconds

    async def work() -> None:
        nonlocal done
        while True:
            await operation(next(numbers))
            done += 1
            if time.perf_counter() >= deadline:
                return

    await asyncio.gather(*(work() for _ in range(tasks)))
    return (time.perf_counter() - start) * 1e6 / done, (os.times().user - cpu) * 1e6 / done


def _threads_us(operation: SyncOperation, threads: int, seconds: float, numbers: Iterator[int]) -> Cost:
    """µs per operation of ``threads`` threads running ``operation`` back to back for ``seconds``."""
    counts = [0] * threads
    ready = threading.Barrier(threads + 1)
    window: list[float] = []

    def work(index: int) -> None:
        ready.wait()
        while True:
            operation(next(numbers))
            counts[index] += 1
            if time.perf_counter() >= window[0]:
                return

    workers = [threading.Thread(target=work, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    cpu = os.times().user
    start = time.perf_counter()
    window.append(start + seconds)
    ready.wait()
    for worker in workers:
        worker.join()
    done = sum(counts)
    return (time.perf_counter() - start) * 1e6 / done, (os.times().user - cpu) * 1e6 / done


def _boto3_operations(server: S3Server, etag: str) -> dict[str, SyncOperation]:
    location = server.location
    client: Any
    config = Config(
        signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 3}, max_pool_connections=32
    )
    client = boto3.client(
        "s3",
        region_name=location.region,
        endpoint_url=location.endpoint_url,
        aws_access_key_id=server.key,
        aws_secret_access_key=server.key,
        config=config,
    )
    source = {"Bucket": location.bucket, "Key": location.object_key(_STAGED)}

    def head(_: int) -> object:
        return client.head_object(Bucket=location.bucket, Key=source["Key"])

    def promote(number: int) -> object:
        target = location.object_key(f"characters/bench/chr_boto3_{number}/0")
        with contextlib.suppress(botocore.exceptions.ClientError):  # the target is missing: 404
            client.head_object(Bucket=location.bucket, Key=target)
        return client.copy_object(
            Bucket=location.bucket, Key=target, CopySource=source, CopySourceIfMatch=etag, MetadataDirective="COPY"
        )

    return {"HEAD": head, "promote": promote}


def _store_operations(store: AsyncS3BlobStore, etag: str) -> dict[str, AsyncOperation]:
    async def promote(number: int) -> None:
        await store.promote(_STAGED, f"characters/bench/chr_ours_{number}/0", etag=etag)

    return {"HEAD": lambda _: store.head(_STAGED), "promote": promote}


@contextlib.asynccontextmanager
async def _aiobotocore_operations(session_module: Any, server: S3Server, etag: str) -> AsyncIterator[Any]:
    location = server.location
    config = importlib.import_module("aiobotocore.config").AioConfig(
        signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 3}, max_pool_connections=32
    )
    options = {"aws_access_key_id": server.key, "aws_secret_access_key": server.key, "config": config}
    async with session_module.get_session().create_client(
        "s3", region_name=location.region, endpoint_url=location.endpoint_url, **options
    ) as client:
        source = {"Bucket": location.bucket, "Key": location.object_key(_STAGED)}

        async def head(_: int) -> object:
            return await client.head_object(Bucket=location.bucket, Key=source["Key"])

        async def promote(number: int) -> object:
            target = location.object_key(f"characters/bench/chr_aiobotocore_{number}/0")
            with contextlib.suppress(botocore.exceptions.ClientError):  # the target is missing: 404
                await client.head_object(Bucket=location.bucket, Key=target)
            return await client.copy_object(
                Bucket=location.bucket, Key=target, CopySource=source, CopySourceIfMatch=etag, MetadataDirective="COPY"
            )

        yield {"HEAD": head, "promote": promote}


Medians = dict[tuple[str, int], dict[str, Cost]]


def run(server: S3Server, *, seconds: float, rounds: int) -> Medians:
    """Median wall and user CPU µs per operation for each (operation, concurrency) and client."""
    session_module = _aiobotocore()
    numbers = itertools.count()
    results: dict[tuple[str, int], dict[str, list[Cost]]] = {}
    with asyncio.Runner() as runner, contextlib.ExitStack() as cleanup:
        store = server.async_blobs()  # its own pooled httpx.AsyncClient, opened on this runner's loop
        cleanup.callback(lambda: runner.run(store.aclose()))
        runner.run(store.put(_STAGED, _chunks(), max_bytes=len(_BODY), content_type="image/png"))
        info = runner.run(store.head(_STAGED))
        assert info is not None
        assert info.etag is not None
        clients: dict[str, tuple[str, dict[str, Any]]] = {
            "AsyncS3BlobStore (httpx)": ("tasks", _store_operations(store, info.etag)),
            "boto3, threads": ("threads", _boto3_operations(server, info.etag)),
        }
        if session_module is not None:
            stack = contextlib.AsyncExitStack()
            cleanup.callback(lambda: runner.run(stack.aclose()))
            opened = _aiobotocore_operations(session_module, server, info.etag)
            clients["aiobotocore"] = ("tasks", runner.run(stack.enter_async_context(opened)))
        for name in ("HEAD", "promote"):
            for count in CONCURRENCY:
                series = results.setdefault((name, count), {client: [] for client in clients})
                for index in range(rounds + 1):  # the first round warms the pools up, unrecorded
                    for client, (kind, operations) in clients.items():
                        if kind == "tasks":
                            spent = runner.run(_tasks_us(operations[name], count, seconds, numbers))
                        else:
                            spent = _threads_us(operations[name], count, seconds, numbers)
                        if index:
                            series[client].append(spent)
    return {key: {client: _medians(costs) for client, costs in series.items()} for key, series in results.items()}


def _medians(costs: list[Cost]) -> Cost:
    return statistics.median(wall for wall, _ in costs), statistics.median(cpu for _, cpu in costs)


async def _chunks() -> AsyncIterator[bytes]:
    yield _BODY


def report(medians: Medians) -> str:
    """The table: wall and user CPU µs per operation of each client, and ours over each other client."""
    ours = "AsyncS3BlobStore (httpx)"
    lines = [f"{'':<26}" + "".join(f"{client:>32}" for client in next(iter(medians.values())))]
    for (name, count), by_client in medians.items():
        for index, what in enumerate(("wall", "user CPU")):
            cells = "".join(f"{costs[index]:>29.1f} µs" for costs in by_client.values())
            others = [(client.split(",")[0], costs[index]) for client, costs in by_client.items() if client != ours]
            ratios = ", ".join(f"ours/{client} {by_client[ours][index] / us:.2f}" for client, us in others)
            lines.append(f"{name:<8} {count:>2} x, {what:<8}  {cells}   ({ratios})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Start s3rver, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one measured round per client")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if not s3rver_installed():
        install_s3rver()
    if _aiobotocore() is None:
        print("aiobotocore is not installed here: its column is skipped (see this script's docstring)")
    with tempfile.TemporaryDirectory() as data, s3rver_running(Path(data)) as server:
        medians = run(server.isolated(), seconds=args.seconds, rounds=args.rounds)
    print(f"S3 clients against s3rver, median of {args.rounds} rounds of {args.seconds:g} s, µs per operation")
    print(report(medians))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
