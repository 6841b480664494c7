"""Framework-agnostic HTTP mapping of the spec's endpoints, in both flavours.

:class:`HttpApi` (sync) and :class:`AsyncHttpApi` turn (method, path, query, headers,
body) into an :class:`HttpResponse` (status, headers, JSON body). Web frameworks only
copy requests in and responses out; no business rule lives in them. Every
:class:`UploadTicketsError` becomes its status and
``{"error": {"type", "code", "message", "param"}}``. ``AsyncHttpApi`` is the source
(``upload_tickets/_async/http.py``); ``HttpApi`` is generated from it.
"""

from upload_tickets._async.http import AsyncHttpApi, AsyncPendingRequest
from upload_tickets._sync.http import HttpApi, PendingRequest
from upload_tickets._wire import (
    API_ROUTES,
    API_VERSION,
    IDEMPOTENCY_KEY,
    MAX_JSON_BODY,
    PAGE_QUERY,
    SIGNED_QUERY,
    BodyDeadlines,
    BodyKind,
    Headers,
    HttpResponse,
    Param,
    ParamLocation,
    Route,
    character_view,
    closing,
    error_response,
    iso8601,
    rate_limit_headers,
    ticket_view,
    upload_route,
)

__all__ = [
    "API_ROUTES",
    "API_VERSION",
    "IDEMPOTENCY_KEY",
    "MAX_JSON_BODY",
    "PAGE_QUERY",
    "SIGNED_QUERY",
    "AsyncHttpApi",
    "AsyncPendingRequest",
    "BodyDeadlines",
    "BodyKind",
    "Headers",
    "HttpApi",
    "HttpResponse",
    "Param",
    "ParamLocation",
    "PendingRequest",
    "Route",
    "character_view",
    "closing",
    "error_response",
    "iso8601",
    "rate_limit_headers",
    "ticket_view",
    "upload_route",
]
