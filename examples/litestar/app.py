"""upload-tickets plugged into a Litestar app at /uploads; run it with ``./dev example litestar``.

uvicorn serves it on PORT (8000); upload URLs start with UPLOAD_TICKETS_ORIGIN. The
operations are listed in Litestar's /schema/openapi.json and in /uploads/openapi.json.
"""

import os

from litestar import Litestar, get

from upload_tickets import (
    AsyncMemoryBlobStore,
    AsyncMemoryTeamDirectory,
    AsyncUploadTickets,
    HmacSigner,
    Team,
    async_backend_from_url,
)
from upload_tickets.http import AsyncHttpApi
from upload_tickets.integrations.litestar import UploadTicketsPlugin

backend = async_backend_from_url("memory://")
service = AsyncUploadTickets(
    store=backend.store,
    limiter=backend.limiter,
    # Only the origin: the plugin fills in the upload host's path (/uploads/uploads/...).
    signer=HmacSigner(os.environ.get("UPLOAD_TICKETS_ORIGIN", "http://127.0.0.1:8000"), {"k1": os.urandom(32)}, "k1"),
    blobs=AsyncMemoryBlobStore(),
)
teams = AsyncMemoryTeamDirectory({os.environ.get("UPLOAD_TICKETS_DEMO_KEY", "al_live_demo_key_0001"): Team("demo")})


@get("/")
async def home() -> dict[str, str]:
    """The app's own route, next to the mount."""
    return {"uploads": "/uploads/openapi.json", "schema": "/schema/openapi.json"}


# The plugin mounts the routes and adds the sweep (every 60 s) to the app's lifespan.
app = Litestar(route_handlers=[home], plugins=[UploadTicketsPlugin(AsyncHttpApi(service, teams), path="/uploads")])
