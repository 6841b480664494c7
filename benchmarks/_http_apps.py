"""The two ASGI apps of the HTTP before/after benchmark, built by uvicorn ``--factory``.

Both serve the same service (same store URL, signer and unlimited bucket) and one API
key, both read from the environment (``UT_BENCH_STORE_URL``, ``UT_BENCH_API_KEY``: one key, or
several separated by commas, each a team of its own):

- :func:`before`: the sync ``HttpApi`` in a minimal ASGI shell that does what the
  reference server did before the async facade: ``begin`` and ``finish`` each on a worker
  thread (``anyio.to_thread``), or right on the loop for an in-process store (memory,
  SQLite), where the old server skipped the hop. Written here, so the baseline does not
  depend on code that has since changed.
- :func:`after`: the reference server's app over ``AsyncHttpApi`` and
  ``AsyncUploadTickets`` (``upload_tickets_server.app.create_app``).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeVar

import anyio.to_thread

from benchmarks._harness import bench_async_service, bench_service
from upload_tickets import AsyncMemoryTeamDirectory, MemoryTeamDirectory, Team, async_backend_from_url, backend_from_url
from upload_tickets.http import AsyncHttpApi, HttpApi, HttpResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
T = TypeVar("T")

STORE_URL = "UT_BENCH_STORE_URL"
API_KEY = "UT_BENCH_API_KEY"
REDIS_PREFIX = "bench-http"


def _options(url: str) -> dict[str, Any]:
    # Redis keys under their own prefix, cleared by the benchmark when it ends.
    return {"prefix": REDIS_PREFIX} if url.startswith("redis") else {}


class ThreadHopApp:
    """The sync ``HttpApi`` behind an ASGI shell that hops to a worker thread per call (the old server)."""

    def __init__(self, api: HttpApi, *, run_on_loop: bool) -> None:
        self.api = api
        self.run_on_loop = run_on_loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        query = scope["query_string"].decode("latin-1")
        transport = {"client": scope.get("client"), "scheme": scope.get("scheme", "http")}
        outcome = await self._call(self.api.begin, scope["method"], scope["path"], query, headers, transport)
        if not isinstance(outcome, HttpResponse):
            # The body is read on the loop, as the old server did; then the work hops again.
            chunks: list[bytes] = []
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            outcome = await self._call(outcome.finish, chunks)
        raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in outcome.headers]
        raw.append((b"content-length", str(len(outcome.body)).encode()))
        await send({"type": "http.response.start", "status": outcome.status, "headers": raw})
        await send({"type": "http.response.body", "body": outcome.body})

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        if self.run_on_loop:
            return function(*args)
        return await anyio.to_thread.run_sync(function, *args)


def _teams() -> dict[str, Team]:
    # Several comma-separated keys: one team each, as a multi-tenant API sees its traffic.
    keys = os.environ[API_KEY].split(",")
    return {key: Team(f"bench-{index}") for index, key in enumerate(keys)}


def before() -> ASGIApp:
    """The baseline app (sync facade, a thread hop per call on a networked store)."""
    url = os.environ[STORE_URL]
    backend = backend_from_url(url, **_options(url))
    api = HttpApi(bench_service(backend.store, backend.limiter), MemoryTeamDirectory(_teams()))
    return ThreadHopApp(api, run_on_loop=url.startswith(("memory:", "sqlite:")))


def after() -> ASGIApp:
    """The reference server's app on the async facade."""
    from upload_tickets_server.app import create_app

    url = os.environ[STORE_URL]
    backend = async_backend_from_url(url, **_options(url))
    service = bench_async_service(backend.store, backend.limiter)
    return create_app(AsyncHttpApi(service, AsyncMemoryTeamDirectory(_teams())), sweep="external")
