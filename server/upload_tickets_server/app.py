"""The ASGI app: a thin Starlette shell around :class:`upload_tickets.http.HttpApi`.

Requests are copied in (method, path, raw query, lower-cased headers, body) and the
``HttpResponse`` copied out; every rule lives in the core. Store I/O is blocking, so
each request runs on Starlette's thread pool; upload bodies stream from the event loop
into that thread chunk by chunk, never held whole in memory.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.from_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from upload_tickets.http import MAX_JSON_BODY, HttpApi, HttpResponse
from upload_tickets_server.openapi import openapi_document

logger = logging.getLogger("upload_tickets_server")


def _headers(request: Request) -> dict[str, str]:
    return {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in request.scope["headers"]}


def _relative_path(request: Request) -> str:
    # Mounted under a prefix, the app sees its own routes without it.
    path: str = request.scope["path"]
    root = request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _response(result: HttpResponse) -> Response:
    return Response(content=result.body, status_code=result.status, headers=dict(result.headers))


async def _read_json_body(request: Request) -> bytes:
    # One byte past the cap is enough for HttpApi to answer 413.
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BODY:
            break
    return bytes(body)


def _pull(stream: AsyncIterator[bytes]) -> Iterator[bytes]:
    """Iterate an async byte stream from a worker thread, one chunk at a time."""

    async def next_chunk() -> bytes:
        return await stream.__anext__()

    while True:
        try:
            chunk = anyio.from_thread.run(next_chunk)
        except StopAsyncIteration:
            return
        if chunk:
            yield chunk


def create_app(api: HttpApi, *, sweep_interval_s: float | None = None, embedded_store: bool = False) -> Starlette:
    """Build the ASGI app; with ``sweep_interval_s`` it also evicts expired tickets periodically.

    ``embedded_store`` says the store answers in-process (memory, SQLite): the short JSON
    endpoints then run right on the event loop, because a hop to a worker thread costs
    more than the call itself. Uploads (streamed to storage) and classify (image
    decoding) always run on a worker thread, as does everything on a networked store.
    """

    async def dispatch(request: Request) -> Response:
        path, method = _relative_path(request), request.method
        query = request.scope["query_string"].decode("latin-1")
        headers = _headers(request)
        if method == "PUT":
            chunks = _pull(request.stream().__aiter__())
            return _response(await run_in_threadpool(api.handle, method, path, query, headers, chunks))
        body = await _read_json_body(request) if method == "POST" else b""
        if embedded_store and not path.endswith("/classify"):
            return _response(api.handle(method, path, query, headers, body))
        return _response(await run_in_threadpool(api.handle, method, path, query, headers, body))

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    document = openapi_document(api)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            if sweep_interval_s:
                tasks.start_soon(_sweep_forever, api, sweep_interval_s)
            yield
            tasks.cancel_scope.cancel()

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/{path:path}", dispatch, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def _sweep_forever(api: HttpApi, interval_s: float) -> None:
    while True:
        await anyio.sleep(interval_s)
        try:
            report = await run_in_threadpool(api.service.sweep)
        except Exception:
            # A failed sweep (store briefly down) is retried at the next tick.
            logger.exception("sweep failed")
            continue
        if report.tickets:
            logger.info("swept %d expired tickets and %d blobs", report.tickets, report.blobs)
