"""The ASGI app: a thin shell around :class:`upload_tickets.http.HttpApi`.

Every request is judged from its line and headers first (:meth:`HttpApi.begin`): a
refusal is sent without reading the body, with ``Connection: close`` when the client
declared one, and without the ``100 Continue`` the ASGI server only sends once the app
asks for the body. An accepted body is read on the event loop under
:class:`~upload_tickets.http.BodyDeadlines`, so stalled or trickling clients hold a
coroutine, never a worker thread; only then does the store, blob or image work run,
on a worker thread (or right on the loop for in-process stores, where a thread hop
costs more than the call). Every answer, 404 and 405 included, is the spec's JSON.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeVar, cast

import anyio
import anyio.to_thread

from upload_tickets import MethodNotAllowed, PayloadTooLarge, RequestTimeout, UploadTicketsError
from upload_tickets.auth import RequestContext
from upload_tickets.http import BodyDeadlines, HttpApi, HttpResponse, PendingRequest, closing
from upload_tickets.protocols import AsyncTeamResolver
from upload_tickets_server.body import ClientDisconnected, SpooledBody, read_body
from upload_tickets_server.openapi import openapi_document

logger = logging.getLogger("upload_tickets_server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
T = TypeVar("T")

#: Bodies up to this size stay in memory while they arrive; larger ones spool to a temp file.
SPOOL_BYTES = 1024 * 1024


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
    """The ASGI application; mount it anywhere (``root_path`` is honoured)."""

    def __init__(
        self,
        api: HttpApi,
        *,
        sweep_interval_s: float | None = None,
        run_on_loop: bool = False,
        deadlines: BodyDeadlines | None = None,
        spool_bytes: int = SPOOL_BYTES,
    ) -> None:
        self.api = api
        self.sweep_interval_s = sweep_interval_s
        self.run_on_loop = run_on_loop
        self.deadlines = deadlines or BodyDeadlines()
        self.spool_bytes = spool_bytes
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
        # A PUT's admission reads the ticket; on a networked store that is blocking I/O.
        transport, team = _transport(scope), None
        if self.api.resolver_is_async and self.api.needs_team(method, path):
            # An async resolver (a session store, token introspection) is awaited here, on
            # the loop; the team then rides into begin() like any other argument.
            try:
                resolver = cast(AsyncTeamResolver, self.api.resolver)
                team = await resolver.resolve(RequestContext(method, path, headers, transport))
            except UploadTicketsError as error:
                await self._send(send, self.api.error_response(error), headers)
                return
        outcome = await self._call(self.api.begin, method, path, query, headers, transport, team)
        if isinstance(outcome, HttpResponse):
            await self._send(send, outcome, headers)
            return
        try:
            body = await read_body(receive, outcome.body_limit, self.deadlines, spool_bytes=self.spool_bytes)
        except ClientDisconnected:
            return
        except (RequestTimeout, PayloadTooLarge) as error:
            await self._send(send, self.api.error_response(error), headers)
            return
        try:
            response = await self._finish(outcome, body)
        finally:
            body.close()
        await self._send(send, response, headers, body_read=True)

    async def _finish(self, pending: PendingRequest, body: SpooledBody) -> HttpResponse:
        # Uploads write files and classify decodes images: always off the loop.
        if pending.route.body == "upload" or pending.route.name == "classify":
            return await anyio.to_thread.run_sync(pending.finish, body.chunks())
        return await self._call(pending.finish, body.chunks())

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        if self.run_on_loop:
            return function(*args)
        return await anyio.to_thread.run_sync(function, *args)

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
        await send({"type": "lifespan.shutdown.complete"})


def _get_only(path: str, method: str) -> UploadTicketsError:
    return MethodNotAllowed(f"{path} takes GET, not {method}", allow=("GET",))


def create_app(
    api: HttpApi,
    *,
    sweep_interval_s: float | None = None,
    run_on_loop: bool = False,
    deadlines: BodyDeadlines | None = None,
) -> UploadTicketsApp:
    """Build the ASGI app; with ``sweep_interval_s`` it also evicts expired tickets periodically.

    ``run_on_loop`` runs the short JSON endpoints right on the event loop instead of a
    worker thread: right when the store answers in-process (memory, SQLite). ``deadlines`` bound how long a request
    body may take (default :class:`BodyDeadlines`).
    """
    return UploadTicketsApp(api, sweep_interval_s=sweep_interval_s, run_on_loop=run_on_loop, deadlines=deadlines)


async def _sweep_forever(api: HttpApi, interval_s: float) -> None:
    while True:
        await anyio.sleep(interval_s)
        try:
            report = await anyio.to_thread.run_sync(api.service.sweep)
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


__all__ = ["SPOOL_BYTES", "UploadTicketsApp", "create_app"]
