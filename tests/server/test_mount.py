"""The ASGI app mounted inside a user's own Starlette app, under a prefix."""

from __future__ import annotations

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from tests.support import API_KEY_A, TEAM_A
from upload_tickets import (
    AsyncMemoryBlobStore,
    AsyncMemoryRateLimiter,
    AsyncMemoryTeamDirectory,
    AsyncMemoryTicketStore,
    AsyncUploadTickets,
    HmacSigner,
    ManualClock,
)
from upload_tickets.http import AsyncHttpApi
from upload_tickets.testing import START_US, image_bytes
from upload_tickets_server import create_app


def test_mounted_under_a_prefix() -> None:
    clock = ManualClock(START_US)
    service = AsyncUploadTickets(
        store=AsyncMemoryTicketStore(),
        limiter=AsyncMemoryRateLimiter(clock),
        signer=HmacSigner("http://testserver/api/uploads", {"k": b"m" * 32}, "k"),
        blobs=AsyncMemoryBlobStore(),
        clock=clock,
    )
    api = AsyncHttpApi(service, AsyncMemoryTeamDirectory({API_KEY_A: TEAM_A}))

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("the user's own app")

    host = Starlette(routes=[Route("/", home), Mount("/api", create_app(api, sweep="external"))])

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=host)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            assert (await client.get("/")).text == "the user's own app"
            minted = await client.post(
                "/api/v1/characters/uploads/init",
                json={"filename": "a.png", "extension": "png", "content_type": "image/png"},
                headers={"X-Api-Key": API_KEY_A},
            )
            assert minted.status_code == 201
            url = minted.json()["upload_url"]
            assert url.startswith("http://testserver/api/uploads/")
            assert (await client.put(url, content=image_bytes("image/png"))).status_code == 200
            upload_id = minted.json()["upload_id"]
            state = await client.get(f"/api/v1/characters/uploads/{upload_id}", headers={"X-Api-Key": API_KEY_A})
            assert state.json()["state"] == "uploaded"
            assert (await client.get("/api/openapi.json")).json()["openapi"] == "3.1.0"

    anyio.run(scenario)
