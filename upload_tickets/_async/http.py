"""The spec's HTTP surface, async source: ``AsyncHttpApi`` (``HttpApi`` is generated from it).

:class:`AsyncHttpApi` turns (method, path, query, headers, body) into an
:class:`~upload_tickets.http.HttpResponse` (status, headers, JSON body). Web frameworks
only copy requests in and responses out; no business rule lives in them. Every
:class:`UploadTicketsError` becomes its status and ``{"error": {"type", "code",
"message", "param"}}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Mapping

import attrs

from upload_tickets import _bodies
from upload_tickets._async._io import read_capped
from upload_tickets._async._primitives import Body, TeamSource, as_resolver, chunks_of
from upload_tickets._async.service import AsyncUploadTickets
from upload_tickets._errors import (
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    UploadTicketsError,
)
from upload_tickets._identity import RequestContext
from upload_tickets._models import RateDecision, Team, UploadAdmission
from upload_tickets._policy import Operation
from upload_tickets._wire import (
    API_ROUTES,
    API_VERSION,
    IDEMPOTENCY_KEY,
    MAX_JSON_BODY,
    Headers,
    HttpResponse,
    Route,
    character_view,
    declared_length,
    error_response,
    iso8601,
    json_response,
    page_query,
    rate_limit_headers,
    replayed_header,
    ticket_view,
    upload_route,
)
from upload_tickets.protocols import AsyncTeamResolver, VerifyingSigner


@attrs.frozen
class AsyncPendingRequest:
    """A request that passed every check its head allows; only its body is missing.

    ``body_limit`` is how many body bytes to accept; :meth:`finish` takes the body
    (``bytes`` or chunks) and answers. A refusal before this point never needs the body.
    """

    route: Route
    body_limit: int
    _finish: Callable[[AsyncIterable[bytes]], Awaitable[HttpResponse]]

    async def finish(self, body: Body) -> HttpResponse:
        """Answer the request with its body (``bytes`` or chunks)."""
        return await self._finish(chunks_of(body))


class AsyncHttpApi:
    """The spec's HTTP surface over an :class:`AsyncUploadTickets` service.

    Requests are judged in two steps so a server never reads a body it will refuse:
    :meth:`begin` routes and checks everything the request line and headers allow (the
    route and method, the API key, a PUT's signature, expiry, ticket state, type and
    declared length); :meth:`AsyncPendingRequest.finish` then takes the body. :meth:`handle`
    does both for callers that already hold the body. The three POST endpoints share
    the team's ``characters_post`` bucket (the service's rate table decides); a malformed
    request costs no token.
    """

    def __init__(
        self,
        service: AsyncUploadTickets,
        teams: TeamSource,
        *,
        upload_path: str = "/uploads/",
    ) -> None:
        self.service = service
        #: Who is calling: any team resolver; a bare directory of API keys is the spec's ``X-Api-Key``.
        self.resolver: AsyncTeamResolver = as_resolver(teams)
        self.upload_path = upload_path
        self.routes: tuple[Route, ...] = API_ROUTES
        if isinstance(service.signer, VerifyingSigner):
            self.routes += (upload_route(upload_path),)
        # Indexed once: routing is on every request's path, mint's included.
        self._fixed_routes: dict[str, list[Route]] = {}
        for route in self.routes:
            if "{" not in route.path:
                self._fixed_routes.setdefault(route.path, []).append(route)
        self._template_routes = [route for route in self.routes if "{" in route.path]
        self._json_handlers: dict[
            str, Callable[[Team, Mapping[str, str], AsyncIterable[bytes]], Awaitable[HttpResponse]]
        ] = {
            "init_upload": self.init_upload,
            "classify": self.classify,
            "create_character": self.create_character,
        }
        self._bodyless_handlers: dict[str, Callable[[Team, str, str], Awaitable[HttpResponse]]] = {
            "get_upload": lambda team, upload_id, _: self.get_upload(team, upload_id),
            "list_characters": lambda team, _, query: self.list_characters(team, query),
            "get_character": lambda team, character_id, _: self.get_character(team, character_id),
            "delete_character": lambda team, character_id, _: self.delete_character(team, character_id),
        }

    async def handle(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: Body,
        transport: Mapping[str, object] | None = None,
        team: Team | None = None,
    ) -> HttpResponse:
        """Route one request whose body is at hand; ``headers`` keys must be lower-case."""
        outcome = await self.begin(method, path, query, headers, transport, team)
        if isinstance(outcome, HttpResponse):
            return outcome
        return await outcome.finish(body)

    async def begin(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        transport: Mapping[str, object] | None = None,
        team: Team | None = None,
    ) -> HttpResponse | AsyncPendingRequest:
        """Judge a request by its line and headers: an answer, or a request waiting for its body.

        ``transport`` is what the server knows beyond the headers (e.g. the ASGI ``tls``
        extension), handed to the team resolver. ``team`` is the caller when the host
        framework already resolved it (see :meth:`needs_team`).
        """
        try:
            route, variable = self.match(method, path)
            declared = declared_length(headers)
            if route.body == "none":
                if declared != 0 and ("transfer-encoding" in headers or declared is not None):
                    raise InvalidRequest("this route takes no request body", code="body_not_allowed")
                team = team or await self.authenticate(RequestContext(method, path, headers, transport or {}))
                return await self._bodyless_handlers[route.name](team, variable, query)
            if route.body == "upload":
                admission = await self.service.admit_upload(
                    variable, query, content_type=headers.get("content-type"), content_length=declared
                )
                return AsyncPendingRequest(route, admission.max_bytes, self._guarded(self._finish_upload, admission))
            team = team or await self.authenticate(RequestContext(method, path, headers, transport or {}))
            if declared is not None and declared > MAX_JSON_BODY:
                raise PayloadTooLarge(f"JSON bodies are limited to {MAX_JSON_BODY} bytes", param="Content-Length")
            handler = self._json_handlers[route.name]
            return AsyncPendingRequest(route, MAX_JSON_BODY, self._guarded(handler, team, headers))
        except UploadTicketsError as error:
            return self.error_response(error)

    def error_response(self, error: UploadTicketsError) -> HttpResponse:
        """``error`` as this API answers it."""
        return error_response(error)

    def _rate_headers(self, operation: Operation, decision: RateDecision | None) -> Headers:
        policy = self.service.rates.policy(operation)
        return () if policy is None or decision is None else rate_limit_headers(policy, decision)

    def _guarded(
        self, handler: Callable[..., Awaitable[HttpResponse]], *args: object
    ) -> Callable[[AsyncIterable[bytes]], Awaitable[HttpResponse]]:
        async def finish(body: AsyncIterable[bytes]) -> HttpResponse:
            try:
                return await handler(*args, body)
            except UploadTicketsError as error:
                return self.error_response(error)

        return finish

    def match(self, method: str, path: str) -> tuple[Route, str]:
        """The route for ``method path`` and its variable segment; 404 or 405 (with ``allow``) otherwise."""
        # A fixed path shadows the templates: GET .../uploads/init is a 405, not upload "init".
        fixed = self._fixed_routes.get(path)
        if fixed is not None:
            candidates, variable = fixed, ""
        else:
            matched = [(route, route.variable(path)) for route in self._template_routes]
            candidates = [route for route, segment in matched if segment is not None]
            variable = next((segment for _, segment in matched if segment is not None), "")
        for route in candidates:
            if route.method == method:
                return route, variable
        if not candidates:
            raise NotFound(f"no route for {path}", code="route_not_found")
        allow = tuple(sorted({route.method for route in candidates}))
        raise MethodNotAllowed(f"{path} takes {', '.join(allow)}, not {method}", allow=allow)

    def needs_team(self, method: str, path: str) -> bool:
        """Whether ``method path`` is a route that answers to a team (every route but the upload host's PUT)."""
        try:
            route, _ = self.match(method, path)
        except UploadTicketsError:
            return False  # begin() answers 404/405 without asking who calls
        return route.auth

    async def authenticate(self, request: RequestContext) -> Team:
        """The calling team, as the resolver names it, or ``Unauthenticated``."""
        return await self.resolver.resolve(request)

    async def init_upload(self, team: Team, headers: Mapping[str, str], body: AsyncIterable[bytes]) -> HttpResponse:
        """``POST /v1/characters/uploads/init``."""
        request = _bodies.parse_mint_request(await _decode(body))
        result = await self.service.mint(
            team, request, api_version=headers.get(API_VERSION.key), idempotency_key=headers.get(IDEMPOTENCY_KEY.key)
        )
        extra: list[tuple[str, str]] = [(API_VERSION.name, result.ticket.api_version)]
        extra.extend(self._rate_headers(Operation.MINT, result.rate))
        if result.replayed:
            extra.append(("Idempotent-Replayed", "true"))
        payload = {
            "upload_id": result.ticket.id,
            "upload_url": result.upload.url,
            "upload_headers": dict(result.upload.headers),
            "expires_at": iso8601(result.upload.expires_at),
        }
        return json_response(200 if result.replayed else 201, payload, extra)

    async def _finish_upload(self, admission: UploadAdmission, body: AsyncIterable[bytes]) -> HttpResponse:
        ticket = await self.service.store_upload(admission, body)
        return json_response(200, {"upload_id": ticket.id, "state": ticket.state.value, "size": ticket.size})

    async def classify(self, team: Team, headers: Mapping[str, str], body: AsyncIterable[bytes]) -> HttpResponse:
        """``POST /v1/characters/uploads/classify``."""
        upload_id = _bodies.parse_classify_request(await _decode(body))
        result = await self.service.classify(team, upload_id, idempotency_key=headers.get(IDEMPOTENCY_KEY.key))
        ticket = result.ticket
        assert ticket.classification is not None  # classify always records one
        return json_response(
            200,
            {
                "upload_id": ticket.id,
                "pose": ticket.classification.pose,
                "width": ticket.classification.width,
                "height": ticket.classification.height,
                "content_type": ticket.classification.detected_type,
            },
            self._rate_headers(Operation.CLASSIFY, result.rate) + replayed_header(result.replayed),
        )

    async def create_character(
        self, team: Team, headers: Mapping[str, str], body: AsyncIterable[bytes]
    ) -> HttpResponse:
        """``POST /v1/characters``: consume the uploads atomically."""
        upload_ids = _bodies.parse_consume_request(await _decode(body))
        result = await self.service.consume(team, upload_ids, idempotency_key=headers.get(IDEMPOTENCY_KEY.key))
        headers_out = self._rate_headers(Operation.CONSUME, result.rate) + replayed_header(result.replayed)
        return json_response(200 if result.replayed else 201, character_view(result.character), headers_out)

    async def get_character(self, team: Team, character_id: str) -> HttpResponse:
        """``GET /v1/characters/{id}``."""
        return json_response(200, character_view(await self.service.get_character(team, character_id)))

    async def list_characters(self, team: Team, query: str) -> HttpResponse:
        """``GET /v1/characters?cursor=&limit=``: the team's characters, oldest first."""
        cursor, limit = page_query(query)
        page = await self.service.list_characters(team, cursor=cursor, limit=limit)
        payload = {"data": [character_view(c) for c in page.characters], "next_cursor": page.next_cursor}
        return json_response(200, payload)

    async def delete_character(self, team: Team, character_id: str) -> HttpResponse:
        """``DELETE /v1/characters/{id}``: the character and its bytes."""
        await self.service.delete_character(team, character_id)
        return HttpResponse(status=204, headers=(), body=b"")

    async def get_upload(self, team: Team, upload_id: str) -> HttpResponse:
        """``GET /v1/characters/uploads/{upload_id}``."""
        ticket = await self.service.get(team, upload_id)
        return json_response(200, ticket_view(ticket, self.service.clock.now_us()))


async def _decode(body: AsyncIterable[bytes]) -> dict[str, object]:
    return _bodies.decode_json_object(await read_capped(body, MAX_JSON_BODY, "JSON body"))


__all__ = ["AsyncHttpApi", "AsyncPendingRequest"]
