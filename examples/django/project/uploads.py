"""The service behind the views, in both flavours: settings.UPLOAD_TICKETS["API"] names the one to build."""

import os

from upload_tickets import HmacSigner, Team, async_backend_from_url, backend_from_url
from upload_tickets.http import AsyncHttpApi, HttpApi
from upload_tickets.memory import AsyncMemoryBlobStore, AsyncMemoryTeamDirectory, MemoryBlobStore, MemoryTeamDirectory
from upload_tickets.service import AsyncUploadTickets, UploadTickets

# Only the origin: the app fills in the path of the upload host where the URLconf includes it.
signer = HmacSigner(os.environ.get("UPLOAD_TICKETS_ORIGIN", "http://127.0.0.1:8000"), {"k1": os.urandom(32)}, "k1")
teams = {os.environ.get("UPLOAD_TICKETS_DEMO_KEY", "al_live_demo_key_0001"): Team("demo")}


def api() -> HttpApi:
    """Sync views (WSGI): memory backends; a database URL in production."""
    backend = backend_from_url("memory://")
    service = UploadTickets(store=backend.store, limiter=backend.limiter, signer=signer, blobs=MemoryBlobStore())
    return HttpApi(service, MemoryTeamDirectory(teams))


def async_api() -> AsyncHttpApi:
    """Async views (ASGI): the same, awaited on the event loop."""
    backend = async_backend_from_url("memory://")
    service = AsyncUploadTickets(
        store=backend.store, limiter=backend.limiter, signer=signer, blobs=AsyncMemoryBlobStore()
    )
    return AsyncHttpApi(service, AsyncMemoryTeamDirectory(teams))
