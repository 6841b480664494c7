"""Framework-agnostic HTTP mapping of the spec's endpoints.

:class:`HttpApi` turns (method, path, query, headers, body) into an :class:`HttpResponse`
(status, headers, JSON body). Web frameworks only copy requests in and responses out;
no business rule lives in them. Every :class:`UploadTicketsError` becomes its status and
``{"error": {"type", "code", "message", "param"}}``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from upload_tickets import _rules
from upload_tickets._errors import (
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthenticated,
    UploadTicketsError,
)
from upload_tickets._io import read_capped
from upload_tickets._models import RateDecision, Team, UploadTicket
from upload_tickets._policy import RatePolicy
from upload_tickets.protocols import TeamDirectory
from upload_tickets.service import UploadTickets

MAX_JSON_BODY = 64 * 1024
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


def error_response(error: UploadTicketsError, policy: RatePolicy | None = None) -> HttpResponse:
    """Map any library error to its status, headers and JSON error body."""
    headers: Headers = ()
    if isinstance(error, RateLimited) and policy is not None:
        headers = rate_limit_headers(policy, error.decision)
    elif isinstance(error, Unauthenticated):
        headers = (("WWW-Authenticate", 'ApiKey header="X-Api-Key"'),)
    payload = {"error": {"type": error.type, "code": error.code, "message": error.message, "param": error.param}}
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


class HttpApi:
    """The spec's HTTP surface over an :class:`UploadTickets` service.

    The three POST endpoints share the team's ``characters_post`` bucket; bodies are
    validated first, so a malformed request costs no token.
    """

    def __init__(self, service: UploadTickets, teams: TeamDirectory, *, upload_path: str = "/uploads/") -> None:
        self.service = service
        self.teams = teams
        self.upload_path = upload_path

    def handle(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes | Iterable[bytes]
    ) -> HttpResponse:
        """Route one request; ``headers`` keys must be lower-case."""
        try:
            return self._route(method, path, query, headers, body)
        except UploadTicketsError as error:
            return error_response(error, self.service.rate)

    def _route(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes | Iterable[bytes]
    ) -> HttpResponse:
        if path.startswith(self.upload_path) and method == "PUT":
            chunks = [body] if isinstance(body, bytes) else body
            return self.put_upload(path[len(self.upload_path) :], query, headers, chunks)
        if not isinstance(body, bytes):
            body = read_capped(body, MAX_JSON_BODY, "JSON body")
        if method == "POST" and path == "/v1/characters/uploads/init":
            return self.init_upload(headers, body)
        if method == "POST" and path == "/v1/characters/uploads/classify":
            return self.classify(headers, body)
        if method == "POST" and path == "/v1/characters":
            return self.create_character(headers, body)
        prefix = "/v1/characters/uploads/"
        if method == "GET" and path.startswith(prefix) and "/" not in path[len(prefix) :]:
            return self.get_upload(headers, path[len(prefix) :])
        raise NotFound(f"no route for {method} {path}", code="route_not_found")

    def authenticate(self, headers: Mapping[str, str]) -> Team:
        """The team behind ``X-Api-Key``, or ``Unauthenticated``."""
        team = self.teams.team_for_key(_rules.parse_api_key(headers.get("x-api-key")))
        if team is None:
            raise Unauthenticated("unknown API key", code="invalid_api_key", param="X-Api-Key")
        return team

    def init_upload(self, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        """``POST /v1/characters/uploads/init``."""
        team = self.authenticate(headers)
        version = _rules.resolve_api_version(headers.get("x-api-version"), team, self.service.known_versions)
        request = _rules.parse_mint_request(_decode(body))
        result = self.service.mint(team, request, api_version=version, idempotency_key=headers.get("idempotency-key"))
        extra: list[tuple[str, str]] = [("X-Api-Version", result.ticket.api_version)]
        if result.rate is not None:
            extra.extend(rate_limit_headers(self.service.rate, result.rate))
        if result.replayed:
            extra.append(("Idempotent-Replayed", "true"))
        payload = {
            "upload_id": result.ticket.id,
            "upload_url": result.upload.url,
            "upload_headers": dict(result.upload.headers),
            "expires_at": iso8601(result.upload.expires_at),
        }
        return _json_response(200 if result.replayed else 201, payload, extra)

    def put_upload(self, upload_id: str, query: str, headers: Mapping[str, str], body: Iterable[bytes]) -> HttpResponse:
        """``PUT <upload_url>``: the local upload host; the signature is in the query."""
        length = headers.get("content-length")
        if length is not None and not (length.isascii() and length.isdigit()):
            raise InvalidRequest("Content-Length must be a whole number", param="Content-Length")
        ticket = self.service.receive(
            upload_id,
            query,
            content_type=headers.get("content-type"),
            content_length=None if length is None else int(length),
            body=body,
        )
        return _json_response(200, {"upload_id": ticket.id, "state": ticket.state.value, "size": ticket.size})

    def classify(self, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        """``POST /v1/characters/uploads/classify``."""
        team = self.authenticate(headers)
        upload_id = _rules.parse_classify_request(_decode(body))
        decision = self.service.charge(team)
        ticket = self.service.classify(team, upload_id)
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
            rate_limit_headers(self.service.rate, decision),
        )

    def create_character(self, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        """``POST /v1/characters``: consume the uploads atomically."""
        team = self.authenticate(headers)
        upload_ids = _rules.parse_consume_request(_decode(body))
        decision = self.service.charge(team)
        character = self.service.consume(team, upload_ids)
        refs = [
            {
                "upload_id": ticket.id,
                "filename": ticket.filename,
                "content_type": ticket.content_type,
                "size": ticket.size,
                "pose": None if ticket.classification is None else ticket.classification.pose,
            }
            for ticket in character.uploads
        ]
        return _json_response(
            201,
            {"id": character.id, "refs": refs, "created_at": iso8601(character.created_at)},
            rate_limit_headers(self.service.rate, decision),
        )

    def get_upload(self, headers: Mapping[str, str], upload_id: str) -> HttpResponse:
        """``GET /v1/characters/uploads/{upload_id}``."""
        team = self.authenticate(headers)
        ticket = self.service.get(team, _rules.parse_upload_id(upload_id))
        return _json_response(200, ticket_view(ticket, self.service.clock.now_us()))


def _decode(body: bytes) -> dict[str, object]:
    if len(body) > MAX_JSON_BODY:
        raise PayloadTooLarge(f"JSON bodies are limited to {MAX_JSON_BODY} bytes")
    return _rules.decode_json_object(body)
