"""The ASGI app: a thin shell around :class:`upload_tickets.http.AsyncHttpApi`, mountable anywhere.

Every request is handled on the event loop, with awaits: no worker thread per request.
It is judged from its line and headers first (:meth:`AsyncHttpApi.begin`, which also
awaits the team resolver): a refusal is sent without reading the body, with
``Connection: close`` when the client declared one, and without the ``100 Continue``
the ASGI server only sends once the app asks for the body. An accepted body streams
from ``receive`` straight into ``pending.finish`` (a PUT into the blob store) under
:class:`~upload_tickets.http.BodyDeadlines`, so stalled or trickling clients hold a
coroutine, never a thread. Every answer, 404 and 405 included, is the spec's JSON.

Mounted (Starlette ``Mount``, Litestar ``asgi`` route, FastAPI ``mount``), the app learns
its prefix from ``root_path``: upload URLs point at it (the signer's path is filled in)
and ``/openapi.json`` lists its paths under it. A host framework does not run a mounted
app's lifespan, so the sweep runs in :meth:`UploadTicketsApp.lifespan`, which the host
passes as (or enters in) its own; an app that should sweep but was never started
answers its first request with a configuration error naming that fix.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from upload_tickets import ConfigurationError, PayloadTooLarge, RequestTimeout
from upload_tickets.http import AsyncHttpApi, BodyDeadlines, HttpResponse, closing
from upload_tickets.integrations._body import CHUNK_BYTES, ClientDisconnected, RequestBody
from upload_tickets.integrations._mount import MountPoint
from upload_tickets.integrations._own import OwnRoutes
from upload_tickets.sweeping import DEFAULT_SWEEP_EVERY_S, AsyncSweeper, Sweep, sweep_every

logger = logging.getLogger("upload_tickets.asgi")


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


class UploadTicketsApp:
    """The ASGI application over an :class:`AsyncHttpApi`; mount it anywhere (``root_path`` is honoured).

    ``sweep`` is the seconds between sweeps run by :meth:`lifespan` (one process at a
    time, through the store's lease), or ``"external"`` when ``upload-tickets sweep``
    runs from cron.
    """

    def __init__(
        self,
        api: AsyncHttpApi,
        *,
        sweep: Sweep = DEFAULT_SWEEP_EVERY_S,
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
        every_s = sweep_every(sweep)
        self.sweeper = None if every_s is None else AsyncSweeper(api.service, every_s=every_s)
        self.deadlines = deadlines or BodyDeadlines()
        self.chunk_bytes = chunk_bytes
        self.on_shutdown = on_shutdown
        self.mount = MountPoint(api)
        self._sweeping = False
        self.own_routes = OwnRoutes(api)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """Sweep periodically while the host app runs; pass it as the host's lifespan (``app`` is ignored).

        ``Starlette(lifespan=uploads.lifespan)``, ``Litestar(lifespan=[uploads.lifespan])``,
        or ``async with uploads.lifespan():`` inside a lifespan of your own.
        """
        async with anyio.create_task_group() as tasks:
            if self.sweeper is not None:
                tasks.start_soon(_sweep_forever, self.sweeper)
            self._sweeping = True
            try:
                yield
            finally:
                self._sweeping = False
                tasks.cancel_scope.cancel()
        if self.sweeper is not None:
            with anyio.CancelScope(shield=True):
                await self.sweeper.release()
        if self.on_shutdown is not None:
            await self.on_shutdown()

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = _relative_path(scope), scope["method"]
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        try:
            self._check_started(scope.get("root_path", ""))
        except ConfigurationError as error:
            await self._send(send, self.api.error_response(error), headers)
            return
        own = self.own_routes.answer(method, path, scope.get("root_path", ""))
        if own is not None:
            await self._send(send, own, headers)
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

    def _check_started(self, root_path: str) -> None:
        if self.sweeper is not None and not self._sweeping:
            logger.error(_NOT_SWEPT)
            raise ConfigurationError(_NOT_SWEPT)
        if root_path:
            self.mount.bind(root_path)

    async def _send(self, send: Send, response: HttpResponse, headers: dict[str, str], body_read: bool = False) -> None:
        if not body_read and _declares_body(headers):
            response = closing(response)
        raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
        raw.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": raw})
        await send({"type": "http.response.body", "body": response.body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        async with self.lifespan():
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})


_NOT_SWEPT = (
    "no sweep runs for this upload-tickets app: its lifespan never ran (a host framework does not run"
    " a mounted app's lifespan). Give the host app the adapter's lifespan (Starlette(lifespan=uploads.lifespan),"
    " or `async with uploads.lifespan():` in your own), or build it with sweep='external' and run"
    " `upload-tickets sweep` from cron"
)


def create_app(
    api: AsyncHttpApi,
    *,
    sweep: Sweep = DEFAULT_SWEEP_EVERY_S,
    deadlines: BodyDeadlines | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> UploadTicketsApp:
    """Build the ASGI app; it sweeps every ``sweep`` seconds while its lifespan runs (or ``"external"``).

    ``deadlines`` bound how long a request body may take (default :class:`BodyDeadlines`).
    ``on_shutdown`` is awaited at the lifespan's end, on the serving loop (e.g. to close
    the store's connections).
    """
    return UploadTicketsApp(api, sweep=sweep, deadlines=deadlines, on_shutdown=on_shutdown)


async def _sweep_forever(sweeper: AsyncSweeper) -> None:
    while True:
        await anyio.sleep(sweeper.every_s)
        await sweeper.tick()


__all__ = ["UploadTicketsApp", "create_app"]
