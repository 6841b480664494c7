"""The routes an adapter answers itself, next to the API's: ``/healthz`` and ``/openapi.json``.

Both are GET only and need no credentials, so they are cheap: a fixed answer, and the
OpenAPI document built once per mount prefix (its paths are listed under the prefix).
"""

from __future__ import annotations

import json

from upload_tickets._errors import MethodNotAllowed
from upload_tickets.http import AsyncHttpApi, HttpApi, HttpResponse
from upload_tickets.openapi import openapi_document

_HEALTHY = HttpResponse(200, (("Content-Type", "application/json"),), b'{"status":"ok"}')


class OwnRoutes:
    """``/healthz`` and ``/openapi.json`` of one adapter."""

    PATHS = frozenset({"/healthz", "/openapi.json"})

    def __init__(self, api: AsyncHttpApi | HttpApi) -> None:
        self.api = api
        self._documents: dict[str, HttpResponse] = {}

    def answer(self, method: str, path: str, prefix: str) -> HttpResponse | None:
        """The answer to ``method path`` (below the mount at ``prefix``) if it is one of ours, else ``None``."""
        if path not in self.PATHS:
            return None
        if method != "GET":
            return self.api.error_response(MethodNotAllowed(f"{path} takes GET, not {method}", allow=("GET",)))
        if path == "/healthz":
            return _HEALTHY
        document = self._documents.get(prefix)
        if document is None:
            body = json.dumps(openapi_document(self.api, prefix=prefix)).encode()
            document = self._documents[prefix] = HttpResponse(200, (("Content-Type", "application/json"),), body)
        return document


__all__ = ["OwnRoutes"]
