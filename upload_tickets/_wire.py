"""The HTTP pieces both flavours of ``HttpApi`` share: routes, responses, views, error mapping.

Pure functions and frozen values only; nothing here waits on I/O.
"""

from __future__ import annotations

import json
import logging
import math
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from upload_tickets._errors import (
    ConfigurationError,
    InvalidRequest,
    MethodNotAllowed,
    RateLimited,
    Unauthenticated,
    UploadTicketsError,
)
from upload_tickets._models import Character, RateDecision, UploadTicket
from upload_tickets._policy import RatePolicy
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


def json_response(status: int, payload: object, headers: Iterable[tuple[str, str]] = ()) -> HttpResponse:
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
    # A setup mistake's message names its fix and no host or table: the developer should see it.
    if error.http_status >= 500 and not isinstance(error, ConfigurationError):
        # Driver messages name hosts, ports and tables: they go to the log, not to API clients.
        _log.warning("answering %d %s: %s", error.http_status, error.code, error.message)
        message = _PUBLIC_5XX_MESSAGES.get(error.code, "the service failed; retry later")
    payload = {"error": {"type": error.type, "code": error.code, "message": message, "param": error.param}}
    return json_response(error.http_status, payload, headers)


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


def page_query(query: str) -> tuple[str | None, int]:
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


def closing(response: HttpResponse) -> HttpResponse:
    """``response`` with ``Connection: close``: sent when a request body is left unread."""
    return attrs.evolve(response, headers=(*response.headers, ("Connection", "close")))


def declared_length(headers: Mapping[str, str]) -> int | None:
    length = headers.get("content-length")
    if length is None:
        return None
    if not (length.isascii() and length.isdigit()):
        raise InvalidRequest("Content-Length must be a whole number", param="Content-Length")
    return int(length)


def replayed_header(replayed: bool) -> Headers:
    return (("Idempotent-Replayed", "true"),) if replayed else ()
