"""An async team resolver, awaited by the ASGI app on the event loop."""

from __future__ import annotations

import anyio
import httpx
import pytest

from upload_tickets import ConfigurationError, Team, Unauthenticated
from upload_tickets.auth import RequestContext
from upload_tickets.testing import image_bytes
from upload_tickets.testing.kit import async_memory_api, async_memory_service, memory_api, memory_service
from upload_tickets_server import create_app


class TokenIntrospection:
    """Stands for an auth server asked over the network: it awaits."""

    def __init__(self) -> None:
        self.asked = 0

    async def resolve(self, request: RequestContext) -> Team:
        self.asked += 1
        await anyio.sleep(0)
        if request.headers.get("authorization") != "Bearer good":
            raise Unauthenticated("token rejected", code="invalid_token", challenge="Bearer")
        return Team("introspected")


def test_an_async_resolver_runs_the_whole_flow_over_asgi() -> None:
    resolver = TokenIntrospection()
    api = async_memory_api(async_memory_service(), resolver)
    app = create_app(api, sweep="external")

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://uploads.test") as client:
            auth = {"Authorization": "Bearer good"}
            body = {"filename": "a.png", "extension": "png", "content_type": "image/png"}
            minted = await client.post("/v1/characters/uploads/init", json=body, headers=auth)
            assert minted.status_code == 201, minted.text
            asked_before_put = resolver.asked
            put = await client.put(minted.json()["upload_url"], content=image_bytes("image/png"))
            assert put.status_code == 200
            assert resolver.asked == asked_before_put  # the signed PUT asks nobody
            created = await client.post(
                "/v1/characters", json={"upload_ids": [minted.json()["upload_id"]]}, headers=auth
            )
            assert created.status_code == 201
            refused = await client.get("/v1/characters", headers={"Authorization": "Bearer bad"})
            assert (refused.status_code, refused.headers["www-authenticate"]) == (401, "Bearer")
            assert (await client.get("/v1/nowhere", headers=auth)).status_code == 404

    anyio.run(scenario)


def test_the_sync_api_refuses_an_async_resolver_and_says_what_to_do() -> None:
    with pytest.raises(ConfigurationError, match="AsyncHttpApi"):
        memory_api(memory_service(), TokenIntrospection())  # type: ignore[arg-type]  # the mistake under test


def test_the_app_refuses_the_sync_api_and_says_what_to_do() -> None:
    with pytest.raises(ConfigurationError, match="async_memory_api"):
        create_app(memory_api())  # type: ignore[arg-type]  # the mistake under test
