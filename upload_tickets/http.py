"""Framework-agnostic HTTP mapping of the spec's endpoints.

:class:`HttpApi` turns (method, path, query, headers, body) into an :class:`HttpResponse`
(status, headers, JSON body). Web frameworks only copy requests in and responses out;
no business rule lives in them. Every :class:`UploadTicketsError` becomes its status and
``{"error": {"type", "code", "message", "param"}}``.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, cast

import attrs

from upload_tickets import _bodies
from upload_tickets._errors import (
    ConfigurationError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthenticated,
    UploadTicketsError,
)
from upload_tickets._io import read_capped
from upload_tickets._models import Character, RateDecision, Team, UploadAdmission, UploadTicket
from upload_tickets._policy import Operation, RatePolicy
from upload_tickets.auth import ApiKeyResolver, RequestContext
from upload_tickets.protocols import AsyncTeamResolver, TeamDirectory, TeamResolver, VerifyingSigner
from upload_tickets.service import UploadTickets
from upload_tickets.signing import _FIELDS as _SIGNED_FIELDS

MAX_JSON_BODY = 64 * 1024
_log = logging.getLogger("upload_tickets")
_PUBLIC_5XX_MESSAGES = {
    "store_unavailable": "a backing service is unavailable; retry shortly",
    "decoder_busy": "too many images are being decoded; retry shortly",
}
_JSON = ("Content-Type", "application/json")

Headers = tuple[tuple[str, str], ...]


@attrs.frozen
class HttpResponse:
    """A response any framework can send as is."""

    status: int
    headers: Headers
    body: bytes

    def json(self) -> Any:
        """The decoded JSON body."""
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or ``None``."""
        lowered = name.lower()
        return next((value for key, value in self.headers if key.lower() == lowered), None)


def iso8601(us: int) -> str:
    """Render epoch microseconds as ``2026-05-08T10:15:00Z`` (whole seconds, UTC)."""
    # time.strftime on a struct_time is several times cheaper than building a datetime.
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(us // 1_000_000))


def _seconds_up(us: int) -> int:
    return math.ceil(us / 1_000_000)


def rate_limit_headers(policy: RatePolicy, decision: RateDecision) -> Headers:
    """``RateLimit-Policy`` and ``RateLimit`` fields (IETF httpapi draft), plus ``Retry-After`` on refusal."""
    window = _seconds_up(policy.capacity_us)
    headers = [
        ("RateLimit-Policy", f'"{policy.name}";q={policy.burst};w={window}'),
        ("RateLimit", f'"{policy.name}";r={decision.remaining};t={_seconds_up(decision.reset_after_us)}'),
    ]
    if not decision.allowed:
        headers.append(("Retry-After", str(max(1, _seconds_up(decision.retry_after_us)))))
    return tuple(headers)


def _json_response(status: int, payload: object, headers: Iterable[tuple[str, str]] = ()) -> HttpResponse:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return HttpResponse(status=status, headers=(_JSON, *headers), body=body)


def error_response(error: UploadTicketsError) -> HttpResponse:
    """Map any library error to its status, headers and JSON error body."""
    headers: Headers = ()
    if isinstance(error, RateLimited) and error.policy is not None:
        headers = rate_limit_headers(error.policy, error.decision)
    elif isinstance(error, MethodNotAllowed):
        headers = (("Allow", ", ".join(error.allow)),)
    elif isinstance(error, Unauthenticated) and error.challenge:
        headers = (("WWW-Authenticate", error.challenge),)
    message = error.message
    if error.http_status >= 500:
        # Driver messages name hosts, ports and tables: they go to the log, not to API clients.
        _log.warning("answering %d %s: %s", error.http_status, error.code, error.message)
        message = _PUBLIC_5XX_MESSAGES.get(error.code, "the service failed; retry later")
    payload = {"error": {"type": error.type, "code": error.code, "message": message, "param": error.param}}
    return _json_response(error.http_status, payload, headers)


def ticket_view(ticket: UploadTicket, now_us: int) -> dict[str, object]:
    """The public JSON form of a ticket (state ``expired`` once past its TTL)."""
    classification = ticket.classification
    return {
        "upload_id": ticket.id,
        "state": "expired" if ticket.is_expired(now_us) else ticket.state.value,
        "filename": ticket.filename,
        "content_type": ticket.content_type,
        "size": ticket.size,
        "upload_url_expires_at": iso8601(ticket.url_expires_at),
        "expires_at": iso8601(ticket.expires_at),
        "classification": None if classification is None else attrs.asdict(classification),
        "character_id": ticket.character_id,
    }


BodyKind = Literal["none", "json", "upload"]
ParamLocation = Literal["path", "query", "header"]


@attrs.frozen
class Param:
    """A request parameter a route reads: its name, where it travels, and whether it must be there."""

    name: str
    location: ParamLocation
    required: bool = False
    #: The name as a lower-cased headers mapping holds it.
    key: str = attrs.field(init=False)

    @key.default
    def _key(self) -> str:
        return self.name.lower()


#: The API version pin a mint may name (default: the team's pin).
API_VERSION = Param("X-Api-Version", "header")
#: The key that makes a POST safe to retry.
IDEMPOTENCY_KEY = Param("Idempotency-Key", "header")
#: The character list's paging.
PAGE_QUERY = (Param("cursor", "query"), Param("limit", "query"))
#: The signed upload URL's query fields, in the signer's order, each required.
SIGNED_QUERY = tuple(Param(name, "query", required=True) for name in _SIGNED_FIELDS)


@attrs.frozen
class Route:
    """One endpoint: a method on a path (``{upload_id}`` marks its one variable segment) and what it reads.

    ``params`` are the query and header parameters the handler reads (the path variable
    comes from ``path``); ``request_schema`` names a JSON body's schema; ``statuses`` are
    the success statuses the handler answers. The OpenAPI document is built from these.
    """

    name: str
    method: str
    path: str
    body: BodyKind
    params: tuple[Param, ...] = ()
    request_schema: str | None = None
    statuses: tuple[int, ...] = (200,)

    def __attrs_post_init__(self) -> None:
        if (self.body == "json") != (self.request_schema is not None):
            raise ValueError(f"route {self.name}: a JSON body, and only a JSON body, names a request_schema")
        if any(param.location == "path" for param in self.params):
            raise ValueError(f"route {self.name}: the path variable comes from the path template")

    @property
    def auth(self) -> bool:
        """Whether the route answers to a team (every route but the upload host's signed PUT)."""
        return self.body != "upload"

    @property
    def path_variable(self) -> str | None:
        """The name of the path's variable segment, or ``None`` for a fixed path."""
        _, brace, rest = self.path.partition("{")
        return rest.partition("}")[0] if brace else None

    @property
    def parameters(self) -> tuple[Param, ...]:
        """Every parameter the route reads: the path variable first, then ``params``."""
        variable = self.path_variable
        return self.params if variable is None else (Param(variable, "path", required=True), *self.params)

    def variable(self, path: str) -> str | None:
        """The variable segment if ``path`` matches this route's template, else ``None``."""
        prefix, brace, _ = self.path.partition("{")
        if not brace:
            return "" if path == self.path else None
        rest = path[len(prefix) :]
        return rest if path.startswith(prefix) and rest and "/" not in rest else None


#: The spec's API routes; the upload host's PUT route (:func:`upload_route`) is added where it is mounted.
API_ROUTES = (
    Route(
        "init_upload",
        "POST",
        "/v1/characters/uploads/init",
        "json",
        params=(API_VERSION, IDEMPOTENCY_KEY),
        request_schema="MintRequest",
        statuses=(201, 200),
    ),
    Route(
        "classify",
        "POST",
        "/v1/characters/uploads/classify",
        "json",
        params=(IDEMPOTENCY_KEY,),
        request_schema="ClassifyRequest",
    ),
    Route(
        "create_character",
        "POST",
        "/v1/characters",
        "json",
        params=(IDEMPOTENCY_KEY,),
        request_schema="CreateCharacterRequest",
        statuses=(201, 200),
    ),
    Route("get_upload", "GET", "/v1/characters/uploads/{upload_id}", "none"),
    Route("list_characters", "GET", "/v1/characters", "none", params=PAGE_QUERY),
    Route("get_character", "GET", "/v1/characters/{character_id}", "none"),
    Route("delete_character", "DELETE", "/v1/characters/{character_id}", "none", statuses=(204,)),
)


def upload_route(upload_path: str) -> Route:
    """The upload host's PUT of a ticket's bytes under ``upload_path``, authorised by its signed query."""
    return Route("put_upload", "PUT", upload_path + "{upload_id}", "upload", params=SIGNED_QUERY)


@attrs.frozen
class BodyDeadlines:
    """How long a request body may take to arrive before it is dropped with 408.

    A body must never go ``idle_s`` without a byte, and, once ``grace_s`` has passed,
    must keep arriving at ``min_bytes_per_s`` on average: a body of N bytes has
    ``grace_s + N / min_bytes_per_s`` seconds in all. Slow-header attacks and connection
    counts are the ASGI server's (or a reverse proxy's) job, not this one.
    """

    idle_s: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))
    min_bytes_per_s: int = attrs.field(default=16 * 1024, validator=attrs.validators.gt(0))
    grace_s: float = attrs.field(default=10.0, validator=attrs.validators.ge(0))

    def seconds_left(self, *, started: float, last_byte: float, received: int, now: float) -> float:
        """Seconds until the body breaks a deadline (``<= 0``: it already has)."""
        rate_deadline = started + self.grace_s + received / self.min_bytes_per_s
        return min(last_byte + self.idle_s, rate_deadline) - now


@attrs.frozen
class PendingRequest:
    """A request that passed every check its head allows; only its body is missing.

    ``body_limit`` is how many body bytes to accept; :meth:`finish` takes the body
    (``bytes`` or chunks) and answers. A refusal before this point never needs the body.
    """

    route: Route
    body_limit: int
    _finish: Callable[[Iterable[bytes]], HttpResponse]

    def finish(self, body: bytes | Iterable[bytes]) -> HttpResponse:
        """Answer the request with its body."""
        return self._finish([body] if isinstance(body, bytes) else body)


def character_view(character: Character) -> dict[str, object]:
    """The public JSON form of a character."""
    refs = []
    for ref in character.refs:
        found = ref.classification
        refs.append(
            {
                "upload_id": ref.upload_id,
                "filename": ref.filename,
                "content_type": ref.content_type,
                "size": ref.size,
                "pose": None if found is None else found.pose,
                "width": None if found is None else found.width,
                "height": None if found is None else found.height,
                "blob_key": ref.blob_key,
            }
        )
    return {
        "id": character.id,
        "state": character.state.value,
        "refs": refs,
        "created_at": iso8601(character.created_at),
    }


def _page_query(query: str) -> tuple[str | None, int]:
    try:
        fields = urllib.parse.parse_qs(query, strict_parsing=bool(query), max_num_fields=4)
    except ValueError:
        raise InvalidRequest("malformed query string", param="query") from None
    unknown = fields.keys() - {param.name for param in PAGE_QUERY}
    if unknown:
        raise InvalidRequest(f"unknown query parameter {sorted(unknown)[0]!r}", param=sorted(unknown)[0])
    if any(len(values) > 1 for values in fields.values()):
        raise InvalidRequest("each query parameter may appear once", param="query")
    limit = fields.get("limit", ["50"])[0]
    if not (limit.isascii() and limit.isdigit() and len(limit) <= 3):
        raise InvalidRequest("limit must be a whole number from 1 to 100", param="limit")
    return fields.get("cursor", [None])[0], int(limit)


class HttpApi:
    """The spec's HTTP surface over an :class:`UploadTickets` service.

    Requests are judged in two steps so a server never reads a body it will refuse:
    :meth:`begin` routes and checks everything the request line and headers allow (the
    route and method, the API key, a PUT's signature, expiry, ticket state, type and
    declared length); :meth:`PendingRequest.finish` then takes the body. :meth:`handle`
    does both for callers that already hold the body. The three POST endpoints share
    the team's ``characters_post`` bucket (the service's rate table decides); a malformed
    request costs no token.
    """

    def __init__(
        self,
        service: UploadTickets,
        teams: TeamResolver | AsyncTeamResolver | TeamDirectory,
        *,
        upload_path: str = "/uploads/",
    ) -> None:
        self.service = service
        #: Who is calling: any :class:`TeamResolver`; a bare directory of API keys is the spec's ``X-Api-Key``.
        self.resolver: TeamResolver | AsyncTeamResolver = (
            teams if isinstance(teams, TeamResolver | AsyncTeamResolver) else ApiKeyResolver(teams)
        )
        #: An async resolver is awaited by an async server, which passes the team to :meth:`begin`.
        self.resolver_is_async = inspect.iscoroutinefunction(self.resolver.resolve)
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
        self._json_handlers: dict[str, Callable[[Team, Mapping[str, str], Iterable[bytes]], HttpResponse]] = {
            "init_upload": self.init_upload,
            "classify": self.classify,
            "create_character": self.create_character,
        }
        self._bodyless_handlers: dict[str, Callable[[Team, str, str], HttpResponse]] = {
            "get_upload": lambda team, upload_id, _: self.get_upload(team, upload_id),
            "list_characters": lambda team, _, query: self.list_characters(team, query),
            "get_character": lambda team, character_id, _: self.get_character(team, character_id),
            "delete_character": lambda team, character_id, _: self.delete_character(team, character_id),
        }

    def handle(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes | Iterable[bytes],
        transport: Mapping[str, object] | None = None,
        team: Team | None = None,
    ) -> HttpResponse:
        """Route one request whose body is at hand; ``headers`` keys must be lower-case."""
        outcome = self.begin(method, path, query, headers, transport, team)
        if isinstance(outcome, HttpResponse):
            return outcome
        return outcome.finish(body)

    def begin(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        transport: Mapping[str, object] | None = None,
        team: Team | None = None,
    ) -> HttpResponse | PendingRequest:
        """Judge a request by its line and headers: an answer, or a request waiting for its body.

        ``transport`` is what the server knows beyond the headers (e.g. the ASGI ``tls``
        extension), handed to the team resolver. ``team`` is the caller when the server
        already resolved it (an async resolver, awaited by the server: see :meth:`needs_team`).
        """
        try:
            route, variable = self.match(method, path)
            declared = _declared_length(headers)
            if route.body == "none":
                if declared != 0 and ("transfer-encoding" in headers or declared is not None):
                    raise InvalidRequest("this route takes no request body", code="body_not_allowed")
                team = team or self.authenticate(RequestContext(method, path, headers, transport or {}))
                return self._bodyless_handlers[route.name](team, variable, query)
            if route.body == "upload":
                admission = self.service.admit_upload(
                    variable, query, content_type=headers.get("content-type"), content_length=declared
                )
                return PendingRequest(route, admission.max_bytes, self._guarded(self._finish_upload, admission))
            team = team or self.authenticate(RequestContext(method, path, headers, transport or {}))
            if declared is not None and declared > MAX_JSON_BODY:
                raise PayloadTooLarge(f"JSON bodies are limited to {MAX_JSON_BODY} bytes", param="Content-Length")
            handler = self._json_handlers[route.name]
            return PendingRequest(route, MAX_JSON_BODY, self._guarded(handler, team, headers))
        except UploadTicketsError as error:
            return self.error_response(error)

    def error_response(self, error: UploadTicketsError) -> HttpResponse:
        """``error`` as this API answers it."""
        return error_response(error)

    def _rate_headers(self, operation: Operation, decision: RateDecision | None) -> Headers:
        policy = self.service.rates.policy(operation)
        return () if policy is None or decision is None else rate_limit_headers(policy, decision)

    def _guarded(
        self, handler: Callable[..., HttpResponse], *args: object
    ) -> Callable[[Iterable[bytes]], HttpResponse]:
        def finish(body: Iterable[bytes]) -> HttpResponse:
            try:
                return handler(*args, body)
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

    def authenticate(self, request: RequestContext) -> Team:
        """The calling team, as a sync resolver names it, or ``Unauthenticated``."""
        if self.resolver_is_async:
            raise ConfigurationError(
                "this HttpApi has an async team resolver: await it in your async server and pass team= to begin()"
            )
        return cast(TeamResolver, self.resolver).resolve(request)

    def init_upload(self, team: Team, headers: Mapping[str, str], body: Iterable[bytes]) -> HttpResponse:
        """``POST /v1/characters/uploads/init``."""
        request = _bodies.parse_mint_request(_decode(body))
        result = self.service.mint(
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
        return _json_response(200 if result.replayed else 201, payload, extra)

    def _finish_upload(self, admission: UploadAdmission, body: Iterable[bytes]) -> HttpResponse:
        ticket = self.service.store_upload(admission, body)
        return _json_response(200, {"upload_id": ticket.id, "state": ticket.state.value, "size": ticket.size})

    def classify(self, team: Team, headers: Mapping[str, str], body: Iterable[bytes]) -> HttpResponse:
        """``POST /v1/characters/uploads/classify``."""
        upload_id = _bodies.parse_classify_request(_decode(body))
        result = self.service.classify(team, upload_id, idempotency_key=headers.get(IDEMPOTENCY_KEY.key))
        ticket = result.ticket
        assert ticket.classification is not None  # classify always records one
        return _json_response(
            200,
            {
                "upload_id": ticket.id,
                "pose": ticket.classification.pose,
                "width": ticket.classification.width,
                "height": ticket.classification.height,
                "content_type": ticket.classification.detected_type,
            },
            self._rate_headers(Operation.CLASSIFY, result.rate) + _replayed(result.replayed),
        )

    def create_character(self, team: Team, headers: Mapping[str, str], body: Iterable[bytes]) -> HttpResponse:
        """``POST /v1/characters``: consume the uploads atomically."""
        upload_ids = _bodies.parse_consume_request(_decode(body))
        result = self.service.consume(team, upload_ids, idempotency_key=headers.get(IDEMPOTENCY_KEY.key))
        headers_out = self._rate_headers(Operation.CONSUME, result.rate) + _replayed(result.replayed)
        return _json_response(200 if result.replayed else 201, character_view(result.character), headers_out)

    def get_character(self, team: Team, character_id: str) -> HttpResponse:
        """``GET /v1/characters/{id}``."""
        return _json_response(200, character_view(self.service.get_character(team, character_id)))

    def list_characters(self, team: Team, query: str) -> HttpResponse:
        """``GET /v1/characters?cursor=&limit=``: the team's characters, oldest first."""
        cursor, limit = _page_query(query)
        page = self.service.list_characters(team, cursor=cursor, limit=limit)
        payload = {"data": [character_view(c) for c in page.characters], "next_cursor": page.next_cursor}
        return _json_response(200, payload)

    def delete_character(self, team: Team, character_id: str) -> HttpResponse:
        """``DELETE /v1/characters/{id}``: the character and its bytes."""
        self.service.delete_character(team, character_id)
        return HttpResponse(status=204, headers=(), body=b"")

    def get_upload(self, team: Team, upload_id: str) -> HttpResponse:
        """``GET /v1/characters/uploads/{upload_id}``."""
        ticket = self.service.get(team, upload_id)
        return _json_response(200, ticket_view(ticket, self.service.clock.now_us()))


def closing(response: HttpResponse) -> HttpResponse:
    """``response`` with ``Connection: close``: sent when a request body is left unread."""
    return attrs.evolve(response, headers=(*response.headers, ("Connection", "close")))


def _declared_length(headers: Mapping[str, str]) -> int | None:
    length = headers.get("content-length")
    if length is None:
        return None
    if not (length.isascii() and length.isdigit()):
        raise InvalidRequest("Content-Length must be a whole number", param="Content-Length")
    return int(length)


def _decode(body: Iterable[bytes]) -> dict[str, object]:
    return _bodies.decode_json_object(read_capped(body, MAX_JSON_BODY, "JSON body"))


def _replayed(replayed: bool) -> Headers:
    return (("Idempotent-Replayed", "true"),) if replayed else ()
