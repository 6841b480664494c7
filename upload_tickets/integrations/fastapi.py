"""The spec's HTTP surface as a FastAPI ``APIRouter`` over the async facade, in the app's own OpenAPI.

    uploads = UploadTicketsRouter(AsyncHttpApi(service, teams))
    app.include_router(uploads.router, prefix="/uploads")

Every route of :attr:`AsyncHttpApi.routes` (init, the upload host's signed PUT, classify,
characters, upload status) is one path operation of the router, documented in
``app.openapi()`` (and ``/docs``) with the request and response schemas of
:func:`~upload_tickets.openapi.openapi_document`, inlined through ``openapi_extra``.
The endpoints take the raw ``Request``: FastAPI never parses nor validates a body, so
every refusal is the spec's JSON (a malformed body is its 400, never a 422), and a
body streams from ``receive`` into the blob store under :class:`BodyDeadlines`, on the
event loop. Other methods on the same paths answer the spec's 405.

FastAPI merges the router's lifespan into the including app's: it runs the periodic
sweep, and finds the prefix the routes were included under (included under two is an
error at startup). Upload URLs point there, behind the ``root_path`` the server
(``--root-path``) or a parent app gives: only a request tells that, so the mount is
bound by the first request reaching the router or its ``service`` dependency. A router
that should sweep but whose lifespan never ran answers with a configuration error
naming the fix; ``sweep="external"`` leaves the sweep to cron (``upload-tickets sweep``).

For your own endpoints, ``Depends(uploads.service)`` is the :class:`AsyncUploadTickets`
and ``Depends(uploads.team)`` the calling :class:`Team`; with
``FastAPI(exception_handlers=uploads.exception_handlers)`` their errors answer the
spec's JSON too.
"""

from __future__ import annotations

try:
    import fastapi
except ImportError as error:
    raise ImportError(
        "upload_tickets.integrations.fastapi needs FastAPI: pip install 'upload-tickets[fastapi]'"
    ) from error

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, MutableMapping
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response, Security
from fastapi.security import APIKeyHeader

from upload_tickets import ConfigurationError, PayloadTooLarge, RequestTimeout, Team, UploadTicketsError
from upload_tickets.auth import ApiKeyResolver, AsyncApiKeyResolver, RequestContext
from upload_tickets.http import AsyncHttpApi, BodyDeadlines, HttpResponse, closing
from upload_tickets.integrations._body import ClientDisconnected, RequestBody
from upload_tickets.integrations._mount import MountPoint
from upload_tickets.openapi import openapi_document
from upload_tickets.service import AsyncUploadTickets
from upload_tickets.sweeping import DEFAULT_SWEEP_EVERY_S, AsyncSweeper, Sweep, sweep_every

logger = logging.getLogger("upload_tickets.fastapi")

# Every other method on one of our paths reaches AsyncHttpApi, which answers the spec's 405.
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_SCHEMA_REF = "#/components/schemas/"

Endpoint = Callable[[Request], Awaitable[Response]]
ExceptionHandlers = dict[int | type[Exception], Callable[[Request, Any], Coroutine[Any, Any, Response]]]


class UploadTicketsHTTPException(fastapi.HTTPException):
    """A refusal from :meth:`UploadTicketsRouter.team`; ``response`` is the spec's answer.

    Without ``uploads.exception_handlers`` FastAPI answers it as any ``HTTPException``
    (same status and headers, ``{"detail": message}``).
    """

    def __init__(self, response: HttpResponse, message: str) -> None:
        super().__init__(response.status, detail=message, headers=dict(response.headers))
        self.response = response


class UploadTicketsRouter:
    """The spec's routes as ``.router``, a FastAPI :class:`APIRouter` over an :class:`AsyncHttpApi`.

    ``sweep`` is the seconds between sweeps run while the including app's lifespan runs
    (one process at a time, through the store's lease), or ``"external"`` when cron
    runs ``upload-tickets sweep``. ``deadlines`` bound how long a request body may take.
    One router serves one mount point: including it under two prefixes is a
    configuration error at startup.
    """

    def __init__(
        self, api: AsyncHttpApi, *, sweep: Sweep = DEFAULT_SWEEP_EVERY_S, deadlines: BodyDeadlines | None = None
    ) -> None:
        if not isinstance(api, AsyncHttpApi):
            raise ConfigurationError(
                f"the FastAPI router serves an AsyncHttpApi over AsyncUploadTickets, not {type(api).__name__}"
                " (in tests: upload_tickets.testing.kit.async_memory_api())"
            )
        self.api = api
        every_s = sweep_every(sweep)
        self.sweeper = None if every_s is None else AsyncSweeper(api.service, every_s=every_s)
        self.deadlines = deadlines or BodyDeadlines()
        self.mount = MountPoint(api)
        # How many apps run the router's lifespan right now (tests may start one app twice).
        self._running = 0
        #: The prefix the app includes the router under, once the lifespan found it (root_path aside).
        self._included: str | None = None
        # Each endpoint and the path template it serves: how the lifespan finds our prefix.
        self._templates: dict[Callable[..., Any], str] = {}
        self.router = APIRouter(lifespan=self.lifespan)
        self._add_routes()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """Learn where ``app`` includes the router, and sweep periodically while it runs.

        FastAPI enters it by itself for an app that includes ``uploads.router``; an app
        whose lifespan is replaced, or one mounted inside another, enters
        ``async with uploads.lifespan(app):`` in its own.
        """
        prefixes = sorted(_included_at(app, self._templates))
        if len(prefixes) > 1:
            raise ConfigurationError(
                f"this upload-tickets router is included under {' and '.join(map(repr, prefixes))}:"
                " build one router per mount point"
            )
        self._included = prefixes[0] if prefixes else self._included
        if self._included is not None:
            # Upload URLs are right from startup; a server root path seen later is added to it.
            self.mount.bind(self._included, provisional=True)
        async with anyio.create_task_group() as tasks:
            if self.sweeper is not None:
                tasks.start_soon(_sweep_forever, self.sweeper)
            self._running += 1
            try:
                yield
            finally:
                self._running -= 1
                tasks.cancel_scope.cancel()
        if self.sweeper is not None:
            with anyio.CancelScope(shield=True):
                await self.sweeper.release()

    async def service(self, request: Request) -> AsyncUploadTickets:
        """A dependency for your endpoints: ``service: Annotated[AsyncUploadTickets, Depends(uploads.service)]``."""
        try:
            self._check_started()
            if self._included is not None:
                # Upload URLs minted by your endpoints need the mount bound, maybe before ours see a request.
                self._bind(_root_path(request.scope) + self._included)
        except ConfigurationError as error:
            raise UploadTicketsHTTPException(self.api.error_response(error), error.message) from error
        return self.api.service

    async def team(self, request: Request) -> Team:
        """A dependency resolving the calling team through the api's resolver; the spec's 401 otherwise."""
        headers = dict(request.headers.items())
        context = RequestContext(request.method, request.url.path, headers, _transport(request.scope))
        try:
            return await self.api.authenticate(context)
        except UploadTicketsError as error:
            raise UploadTicketsHTTPException(self.api.error_response(error), error.message) from error

    @property
    def exception_handlers(self) -> ExceptionHandlers:
        """For ``FastAPI(exception_handlers=...)``: :meth:`team` refusals and service errors as the spec's JSON."""
        return {UploadTicketsHTTPException: self._handle_error, UploadTicketsError: self._handle_error}

    async def _handle_error(self, request: Request, error: Exception) -> Response:
        if isinstance(error, UploadTicketsHTTPException):
            return _response(error.response)
        if isinstance(error, UploadTicketsError):
            return _response(self.api.error_response(error))
        raise error

    def _add_routes(self) -> None:
        document = openapi_document(self.api)
        schemas = document["components"]["schemas"]
        security = _security(self.api)
        for route in self.api.routes:
            self.router.add_api_route(
                route.path,
                self._endpoint(route.path),
                methods=[route.method],
                name=route.name,
                status_code=route.statuses[0],
                response_class=Response,
                response_model=None,
                dependencies=security if route.auth else None,
                openapi_extra=_inlined(document["paths"][route.path][route.method.lower()], schemas),
            )
        for path in dict.fromkeys(route.path for route in self.api.routes):
            declared = {route.method for route in self.api.routes if route.path == path}
            self.router.add_api_route(
                path,
                self._endpoint(path),
                methods=[method for method in _METHODS if method not in declared],
                name=f"upload_tickets_other_methods:{path}",
                response_class=Response,
                response_model=None,
                include_in_schema=False,
            )

    def _endpoint(self, template: str) -> Endpoint:
        variable = template.partition("{")[2].partition("}")[0]

        async def endpoint(request: Request) -> Response:
            relative = template.replace(f"{{{variable}}}", request.path_params[variable]) if variable else template
            return await self._answer(request, relative)

        self._templates[endpoint] = template
        return endpoint

    async def _answer(self, request: Request, relative: str) -> Response:
        headers = dict(request.headers.items())
        try:
            self._check_started()
            self._check_mount(request.scope, relative)
        except ConfigurationError as error:
            return _response(self.api.error_response(error), headers)
        query = request.scope["query_string"].decode("latin-1")
        outcome = await self.api.begin(request.method, relative, query, headers, _transport(request.scope))
        if isinstance(outcome, HttpResponse):
            return _response(outcome, headers)
        body = RequestBody(request.receive, outcome.body_limit, self.deadlines)
        try:
            # Nothing is opened or stored for a body that never starts to arrive.
            await body.first_piece()
            async with contextlib.aclosing(body.chunks()) as chunks:
                # A deadline or the byte cap broken half-way is answered by finish (408, 413).
                answer = await outcome.finish(chunks)
        except ClientDisconnected:
            # The blob store dropped what it had; the server discards an answer nobody reads.
            return Response(status_code=400, headers={"Connection": "close"})
        except (RequestTimeout, PayloadTooLarge) as error:
            answer = self.api.error_response(error)
        return _response(answer, headers, body_read=body.complete)

    def _check_started(self) -> None:
        if self.sweeper is not None and not self._running:
            logger.error(_NOT_SWEPT)
            raise ConfigurationError(_NOT_SWEPT)

    def _check_mount(self, scope: MutableMapping[str, Any], relative: str) -> None:
        # Whatever precedes our own path is where the client reached us: root_path and the prefix.
        root_path: str = scope.get("root_path", "")
        path: str = scope["path"]
        route_path = path[len(root_path) :] if root_path and path.startswith(root_path) else path
        self._bind(_root_path(scope) + route_path[: len(route_path) - len(relative)])

    def _bind(self, prefix: str) -> None:
        if prefix != self.mount.prefix:
            try:
                self.mount.bind(prefix)
            except ConfigurationError as error:
                logger.error(error.message)
                raise


_NOT_SWEPT = (
    "no sweep runs for this upload-tickets FastAPI router: its lifespan never ran."
    " FastAPI runs it when the app that includes uploads.router starts (in tests: `with TestClient(app):`);"
    " an app whose lifespan was replaced, or one mounted inside another app, must enter"
    " `async with uploads.lifespan(app):` in its own lifespan."
    " Or build the router with sweep='external' and run `upload-tickets sweep` from cron"
)


def _included_at(app: object, templates: Mapping[Callable[..., Any], str]) -> set[str]:
    """The prefixes under which ``app`` serves the endpoints in ``templates`` (none found: empty)."""
    routes = getattr(app, "routes", None)
    if routes is None:
        return set()
    # FastAPI >= 0.140 keeps included routers whole and lists their routes through contexts;
    # older versions copy every route into app.routes with its prefix.
    contexts = getattr(fastapi.routing, "iter_route_contexts", iter)(routes)
    prefixes = set()
    for route in contexts:
        endpoint, path = getattr(route, "endpoint", None), getattr(route, "path", None)
        template = templates.get(endpoint) if callable(endpoint) else None
        if template is not None and isinstance(path, str) and path.endswith(template):
            prefixes.add(path[: len(path) - len(template)])
    return prefixes


def _security(api: AsyncHttpApi) -> list[Any]:
    """The X-Api-Key scheme as a FastAPI security dependency, when the resolver reads that header.

    It only documents the header (``/docs`` gets its Authorize button); the api's
    resolver still decides who calls.
    """
    resolver = api.resolver
    if isinstance(resolver, AsyncApiKeyResolver) or isinstance(getattr(resolver, "resolver", None), ApiKeyResolver):
        scheme = APIKeyHeader(
            name="X-Api-Key", scheme_name="UploadTicketsApiKey", description="Starts with al_live_", auto_error=False
        )
        return [Security(scheme)]
    return []


def _inlined(node: Any, schemas: Mapping[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """``node`` with every schema reference replaced by the schema: the host app's document has none of ours."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_SCHEMA_REF):
            name = ref[len(_SCHEMA_REF) :]
            if name in seen:
                raise ValueError(f"schema {name} refers to itself and cannot be inlined")
            return {"title": name, **_inlined(schemas[name], schemas, (*seen, name))}
        return {key: _inlined(value, schemas, seen) for key, value in node.items()}
    if isinstance(node, list):
        return [_inlined(item, schemas, seen) for item in node]
    return node


def _root_path(scope: MutableMapping[str, Any]) -> str:
    """Where the server (``--root-path``) or a parent app's ``Mount`` serves this app, without a final slash."""
    root_path: str = scope.get("root_path", "")
    return root_path.rstrip("/")


def _transport(scope: MutableMapping[str, Any]) -> dict[str, object]:
    """What a team resolver may need beyond headers: the peer, and the TLS extension for mTLS."""
    transport: dict[str, object] = {"client": scope.get("client"), "scheme": scope.get("scheme", "http")}
    tls = scope.get("extensions", {}).get("tls")
    if tls is not None:
        transport["tls"] = tls
    return transport


def _response(
    answer: HttpResponse, request_headers: Mapping[str, str] | None = None, body_read: bool = False
) -> Response:
    """``answer`` as a FastAPI response, closing the connection when a declared body was left unread."""
    headers = request_headers or {}
    if not body_read and ("transfer-encoding" in headers or headers.get("content-length", "0") != "0"):
        answer = closing(answer)
    response = Response(answer.body, status_code=answer.status)
    # raw_headers keeps repeated names (a Mapping would not).
    response.raw_headers.extend(
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers
    )
    return response


async def _sweep_forever(sweeper: AsyncSweeper) -> None:
    while True:
        await anyio.sleep(sweeper.every_s)
        await sweeper.tick()


__all__ = ["UploadTicketsHTTPException", "UploadTicketsRouter"]
