"""The testing kit's async twins, used as the server tests (and an embedder's async tests) use them."""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest

from upload_tickets import AsyncMemoryTeamDirectory, ManualClock, RateLimited, Team, TicketExpired
from upload_tickets.http import AsyncHttpApi
from upload_tickets.testing.kit import AsyncKitService, async_memory_api, async_memory_service, async_upload


def test_mint_put_consume_then_410_after_24_hours(
    upload_tickets_async_service: AsyncKitService, upload_tickets_clock: ManualClock
) -> None:
    service, team = upload_tickets_async_service, Team("my-app")

    async def scenario() -> None:
        kept, late = await async_upload(service, team), await async_upload(service, team)
        assert (await service.consume(team, [kept])).character.upload_ids == (kept,)
        upload_tickets_clock.advance(timedelta(hours=24))
        with pytest.raises(TicketExpired):
            await service.consume(team, [late])

    anyio.run(scenario)


def test_the_kit_clock_drives_refills_too() -> None:
    service, team = async_memory_service(), Team("busy")

    async def scenario() -> None:
        for _ in range(60):
            await async_upload(service, team)
        with pytest.raises(RateLimited):
            await async_upload(service, team)
        service.clock.advance(timedelta(seconds=2))
        await async_upload(service, team)

    anyio.run(scenario)


def test_the_async_api_fixture_takes_keys_from_the_async_teams_fixture(
    upload_tickets_async_api: AsyncHttpApi, upload_tickets_async_teams: AsyncMemoryTeamDirectory
) -> None:
    upload_tickets_async_teams.add("al_live_kit_key_0001", Team("kit"))

    async def scenario() -> None:
        listed = await upload_tickets_async_api.handle(
            "GET", "/v1/characters", "", {"x-api-key": "al_live_kit_key_0001"}, b""
        )
        assert (listed.status, listed.json()) == (200, {"data": [], "next_cursor": None})

    anyio.run(scenario)


def test_a_mapping_of_keys_is_an_async_memory_directory() -> None:
    api = async_memory_api(teams={"al_live_kit_key_0002": Team("mapped")})
    assert isinstance(api.resolver.directory, AsyncMemoryTeamDirectory)  # type: ignore[attr-defined]  # AsyncApiKeyResolver

    async def scenario() -> None:
        listed = await api.handle("GET", "/v1/characters", "", {"x-api-key": "al_live_kit_key_0002"}, b"")
        assert listed.status == 200

    anyio.run(scenario)
