"""A small keep-alive HTTP/1.1 load generator on asyncio (no external tool needed).

Each connection sends one prepared request, reads the full response (by
Content-Length), and repeats; throughput is completed requests per second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence


async def _connection(host: str, port: int, request: bytes, deadline: float, statuses: dict[int, int]) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    done = 0
    try:
        # At least one request per connection, however short the window.
        while done == 0 or time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            statuses[status] = statuses.get(status, 0) + 1
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            done += 1
    finally:
        writer.close()
    return done


def requests_per_second(
    host: str, port: int, request: bytes | Sequence[bytes], *, connections: int, seconds: float
) -> tuple[float, dict[int, int]]:
    """Drive ``connections`` keep-alive connections for ``seconds``; return req/s and status counts.

    Given several requests, connection ``i`` sends the ``i``-th of them, cycling (e.g. one
    API key, so one team, per connection).
    """
    statuses: dict[int, int] = {}
    requests = [request] if isinstance(request, bytes) else list(request)

    async def run() -> float:
        start = time.perf_counter()
        counts = await asyncio.gather(
            *(
                _connection(host, port, requests[index % len(requests)], start + seconds, statuses)
                for index in range(connections)
            )
        )
        return sum(counts) / (time.perf_counter() - start)

    return asyncio.run(run()), statuses


def post_json(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A raw HTTP/1.1 POST request with a JSON body."""
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
