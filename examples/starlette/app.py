"""upload-tickets mounted at /uploads in a Starlette app; run it with ``./dev example starlette``.

uvicorn serves it on PORT (8000); upload URLs start with UPLOAD_TICKETS_ORIGIN.
"""

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from upload_tickets import (
    AsyncMemoryBlobStore,
    AsyncMemoryTeamDirectory,
    AsyncUploadTickets,
    HmacSigner,
    Team,
    async_backend_from_url,
)
from upload_tickets.http import AsyncHttpApi
from upload_tickets.integrations.starlette import UploadTicketsMount

backend = async_backend_from_url("memory://")
service = AsyncUploadTickets(
    store=backend.store,
    limiter=backend.limiter,
    # Only the origin: the mount fills in the upload host's path (/uploads/uploads/...).
    signer=HmacSigner(os.environ.get("UPLOAD_TICKETS_ORIGIN", "http://127.0.0.1:8000"), {"k1": os.urandom(32)}, "k1"),
    blobs=AsyncMemoryBlobStore(),
)
teams = AsyncMemoryTeamDirectory({os.environ.get("UPLOAD_TICKETS_DEMO_KEY", "al_live_demo_key_0001"): Team("demo")})
uploads = UploadTicketsMount("/uploads", AsyncHttpApi(service, teams))


async def home(request: Request) -> JSONResponse:
    """The app's own route, next to the mount."""
    return JSONResponse({"uploads": "/uploads/openapi.json"})


# The mount's lifespan runs the sweep (every 60 s); without it, requests get a 500 and the log says why.
app = Starlette(routes=[Route("/", home), uploads], lifespan=uploads.lifespan)
