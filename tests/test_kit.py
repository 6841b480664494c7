"""The testing kit, used as an embedder's own tests would use it."""

from __future__ import annotations

from datetime import timedelta
from importlib.metadata import entry_points

import pytest

from upload_tickets import ManualClock, MintRequest, RateLimited, SignatureInvalid, Team, TicketExpired, UploadTickets
from upload_tickets.http import HttpApi
from upload_tickets.memory import MemoryTeamDirectory
from upload_tickets.testing.kit import memory_service, upload


def test_mint_put_consume_then_410_after_24_hours(
    upload_tickets_service: UploadTickets, upload_tickets_clock: ManualClock
) -> None:
    team = Team("my-app")
    kept, late = upload(upload_tickets_service, team), upload(upload_tickets_service, team)
    assert upload_tickets_service.consume(team, [kept]).character.upload_ids == (kept,)
    upload_tickets_clock.advance(timedelta(hours=24))
    with pytest.raises(TicketExpired):
        upload_tickets_service.consume(team, [late])


def test_the_kit_clock_drives_refills_too() -> None:
    service, team = memory_service(), Team("busy")
    for _ in range(60):
        upload(service, team)
    with pytest.raises(RateLimited):
        upload(service, team)
    service.clock.advance(timedelta(seconds=2))
    upload(service, team)


def test_the_api_fixture_takes_keys_from_the_teams_fixture(
    upload_tickets_api: HttpApi, upload_tickets_teams: MemoryTeamDirectory
) -> None:
    upload_tickets_teams.add("al_live_kit_key_0001", Team("kit"))
    listed = upload_tickets_api.handle("GET", "/v1/characters", "", {"x-api-key": "al_live_kit_key_0001"}, b"")
    assert (listed.status, listed.json()) == (200, {"data": [], "next_cursor": None})


def test_each_kit_service_signs_with_a_fresh_key() -> None:
    first, second = memory_service(), memory_service()
    minted = first.mint(Team("t"), MintRequest("a.png", "png", "image/png"))
    query = minted.upload.url.partition("?")[2]
    with pytest.raises(SignatureInvalid):
        second.admit_upload(minted.ticket.id, query, content_type="image/png", content_length=1)


def test_installing_the_library_registers_no_pytest_plugin() -> None:
    registered = [ep.value for ep in entry_points(group="pytest11")]
    assert not any(value.startswith("upload_tickets") for value in registered)
