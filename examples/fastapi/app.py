"""upload-tickets in a FastAPI app: the spec's routes under /uploads, in the app's own /docs.

Run it from the repo root with ``./dev example fastapi`` (uvicorn on PORT, default 8000),
then ``POST /uploads/v1/characters/uploads/init`` with ``X-Api-Key: al_live_demo_key_0001``.
"""

import os
from typing import Annotated

from fastapi import Depends, FastAPI

from upload_tickets import AsyncUploadTickets, HmacSigner, Team, async_backend_from_url
from upload_tickets.http import AsyncHttpApi
from upload_tickets.integrations.fastapi import UploadTicketsRouter
from upload_tickets.memory import AsyncMemoryBlobStore, AsyncMemoryTeamDirectory

# Only the origin: the router fills in the upload host's path (/uploads/uploads/...).
origin = os.environ.get("UPLOAD_TICKETS_ORIGIN", "http://127.0.0.1:8000")
backend = async_backend_from_url("memory://")
service = AsyncUploadTickets(
    store=backend.store,
    limiter=backend.limiter,
    signer=HmacSigner(origin, {"k1": os.urandom(32)}, "k1"),
    blobs=AsyncMemoryBlobStore(),
)
teams = AsyncMemoryTeamDirectory({os.environ.get("UPLOAD_TICKETS_DEMO_KEY", "al_live_demo_key_0001"): Team("demo")})
# The router's lifespan, merged into the app's, sweeps every 60 s; sweep="external" for cron.
uploads = UploadTicketsRouter(AsyncHttpApi(service, teams))

app = FastAPI(title="upload-tickets example", exception_handlers=uploads.exception_handlers)
app.include_router(uploads.router, prefix="/uploads", tags=["uploads"])


@app.get("/whoami")
async def whoami(team: Annotated[Team, Depends(uploads.team)]) -> dict[str, str]:
    """The app's own endpoint, told the caller's team by the same resolver (401 as the spec's JSON)."""
    return {"team": team.id}
