"""The baselines of ``benchmarks/adapters.py``: the framework-free apps, set up as the examples are.

``asgi`` is the plain ASGI app under ``/uploads`` (what the async adapters wrap), ``wsgi``
the plain WSGI app under ``/uploads`` (what the sync adapters call into), each on memory
backends with the examples' demo key and origin.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from upload_tickets import (
    AsyncMemoryBlobStore,
    AsyncMemoryTeamDirectory,
    AsyncUploadTickets,
    HmacSigner,
    MemoryBlobStore,
    MemoryTeamDirectory,
    Team,
    UploadTickets,
    async_backend_from_url,
    backend_from_url,
)
from upload_tickets.http import AsyncHttpApi, HttpApi
from upload_tickets.integrations.asgi import Receive, Scope, Send, UploadTicketsApp
from upload_tickets.integrations.wsgi import UploadTicketsWSGI

_ORIGIN = os.environ.get("UPLOAD_TICKETS_ORIGIN", "http://127.0.0.1:8000")
_KEY = os.environ.get("UPLOAD_TICKETS_DEMO_KEY", "al_live_demo_key_0001")
_PREFIX = "/uploads"

_async_backend = async_backend_from_url("memory://")
_async_service = AsyncUploadTickets(
    store=_async_backend.store,
    limiter=_async_backend.limiter,
    signer=HmacSigner(_ORIGIN, {"k1": os.urandom(32)}, "k1"),
    blobs=AsyncMemoryBlobStore(),
)
_plain_asgi = UploadTicketsApp(AsyncHttpApi(_async_service, AsyncMemoryTeamDirectory({_KEY: Team("demo")})))


async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """The plain ASGI app mounted at /uploads, as a host's router would mount it."""
    if scope["type"] == "http":
        scope = {**scope, "root_path": scope.get("root_path", "") + _PREFIX}
    await _plain_asgi(scope, receive, send)


_backend = backend_from_url("memory://")
_service = UploadTickets(
    store=_backend.store,
    limiter=_backend.limiter,
    signer=HmacSigner(_ORIGIN, {"k1": os.urandom(32)}, "k1"),
    blobs=MemoryBlobStore(),
)
_plain_wsgi = UploadTicketsWSGI(HttpApi(_service, MemoryTeamDirectory({_KEY: Team("demo")})))


def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The plain WSGI app mounted at /uploads, as a dispatcher would mount it."""
    environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + _PREFIX
    environ["PATH_INFO"] = environ["PATH_INFO"][len(_PREFIX) :]
    return _plain_wsgi(environ, start_response)
