"""The ASGI app: a thin shell around :class:`upload_tickets.http.AsyncHttpApi`.

Every request is handled on the event loop, with awaits: no worker thread per request.
It is judged from its line and headers first (:meth:`AsyncHttpApi.begin`, which also
awaits the team resolver): a refusal is sent without reading the body, with
``Connection: close`` when the client declared one, and without the ``100 Continue``
the ASGI server only sends once the app asks for the body. An accepted body streams
from ``receive`` straight into ``pending.finish`` (a PUT into the blob store) under
:class:`~upload_tickets.http.BodyDeadlines`, so stalled or trickling clients hold a
coroutine, never a thread. Threads are left to the pieces that block: file writes and
image decoding (the file blob store and the classifier offload them), and stores or key
directories that only have a sync flavour (SQL, S3: run through worker threads). Every
answer, 404 and 405 included, is the spec's JSON.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from upload_tickets import ConfigurationError, MethodNotAllowed, PayloadTooLarge, RequestTimeout, UploadTicketsError
from upload_tickets.http import AsyncHttpApi, BodyDeadlines, HttpResponse, closing
from upload_tickets_server.body import CHUNK_BYTES, ClientDisconnected, RequestBody
from upload_tickets_server.openapi import openapi_document

logger = logging.getLogger("upload_tickets_server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _transport(scope: Scope) -> dict[str, object]:
    """What a team resolver may need beyond headers: the peer, and the TLS extension for mTLS."""
    transport: dict[str, object] = {"client": scope.get("client"), "scheme": scope.get("scheme", "http")}
    tls = scope.get("extensions", {}).get("tls")
    if tls is not None:
        transport["tls"] = tls
    return transport


def _relative_path(scope: Scope) -> str:
    # Mounted under a prefix, the app sees its own routes without it.
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _declares_body(headers: dict[str, str]) -> bool:
    return "transfer-encoding" in headers or headers.get("content-length", "0") != "0"


def _json(status: int, payload: object) -> HttpResponse:
    return HttpResponse(status, (("Content-Type", "application/json"),), json.dumps(payload).encode())


class UploadTicketsApp:
    """The ASGI application over an :class:`AsyncHttpApi`; mount it anywhere (``root_path`` is honoured)."""

    def __init__(
        self,
        api: AsyncHttpApi,
        *,
        sweep_interval_s: float | None = None,
        deadlines: BodyDeadlines | None = None,
        chunk_bytes: int = CHUNK_BYTES,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        if not isinstance(api, AsyncHttpApi):
            raise ConfigurationError(
                f"the ASGI app serves an AsyncHttpApi over AsyncUploadTickets, not {type(api).__name__}"
                " (in tests: upload_tickets.testing.kit.async_memory_api())"
            )
        self.api = api
        self.sweep_interval_s = sweep_interval_s
        self.deadlines = deadlines or BodyDeadlines()
        self.chunk_bytes = chunk_bytes
        self.on_shutdown = on_shutdown
        document = openapi_document(api)
        self._own_routes: dict[str, Callable[[], HttpResponse]] = {
            "/healthz": lambda: _json(200, {"status": "ok"}),
            "/openapi.json": lambda: _json(200, document),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = _relative_path(scope), scope["method"]
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        own = self._own_routes.get(path)
        if own is not None:
            response = own() if method == "GET" else self.api.error_response(_get_only(path, method))
            await self._send(send, response, headers)
            return
        query = scope["query_string"].decode("latin-1")
        outcome = await self.api.begin(method, path, query, headers, _transport(scope))
        if isinstance(outcome, HttpResponse):
            await self._send(send, outcome, headers)
            return
        body = RequestBody(receive, outcome.body_limit, self.deadlines, chunk_bytes=self.chunk_bytes)
        try:
            # Nothing is opened or stored for a body that never starts to arrive.
            await body.first_piece()
            async with contextlib.aclosing(body.chunks()) as chunks:
                # A deadline or the byte cap broken half-way is answered by finish (408, 413).
                response = await outcome.finish(chunks)
        except ClientDisconnected:
            return  # the blob store dropped what it had; nobody is left to answer
        except (RequestTimeout, PayloadTooLarge) as error:
            response = self.api.error_response(error)
        await self._send(send, response, headers, body_read=body.complete)

    async def _send(self, send: Send, response: HttpResponse, headers: dict[str, str], body_read: bool = False) -> None:
        if not body_read and _declares_body(headers):
            response = closing(response)
        raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
        raw.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": raw})
        await send({"type": "http.response.body", "body": response.body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        async with anyio.create_task_group() as tasks:
            if self.sweep_interval_s:
                tasks.start_soon(_sweep_forever, self.api, self.sweep_interval_s)
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            tasks.cancel_scope.cancel()
        if self.on_shutdown is not None:
            await self.on_shutdown()
        await send({"type": "lifespan.shutdown.complete"})


def _get_only(path: str, method: str) -> UploadTicketsError:
    return MethodNotAllowed(f"{path} takes GET, not {method}", allow=("GET",))


def create_app(
    api: AsyncHttpApi,
    *,
    sweep_interval_s: float | None = None,
    deadlines: BodyDeadlines | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> UploadTicketsApp:
    """Build the ASGI app; with ``sweep_interval_s`` it also evicts expired tickets periodically.

    ``deadlines`` bound how long a request body may take (default :class:`BodyDeadlines`).
    ``on_shutdown`` is awaited at the ASGI lifespan's shutdown, on the serving loop (e.g.
    :func:`upload_tickets_server.build.close_backend` to close the store's connections).
    """
    return UploadTicketsApp(api, sweep_interval_s=sweep_interval_s, deadlines=deadlines, on_shutdown=on_shutdown)


async def _sweep_forever(api: AsyncHttpApi, interval_s: float) -> None:
    while True:
        await anyio.sleep(interval_s)
        try:
            report = await api.service.sweep()
        except Exception:
            # A failed sweep (store briefly down) is retried at the next tick.
            logger.exception("sweep failed")
            continue
        if report.tickets or report.characters:
            logger.info(
                "swept %d expired tickets and %d blobs; finished %d characters",
                report.tickets,
                report.blobs,
                report.characters,
            )
        if report.skipped:
            logger.warning("the sweep could not reach %s; the next one tries again", ", ".join(report.skipped))


__all__ = ["UploadTicketsApp", "create_app"]
