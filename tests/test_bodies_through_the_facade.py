"""An embedder hands the facade a PUT body however they hold it: bytes, a list of chunks, a stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from upload_tickets import MintRequest, PayloadTooLarge, State, Team
from upload_tickets.testing import image_bytes
from upload_tickets.testing.kit import async_memory_service, memory_service

TEAM = Team("team_bodies")
PNG = MintRequest("front.png", "png", "image/png")
DATA = image_bytes("image/png")


def test_the_sync_facade_takes_bytes_or_chunks() -> None:
    service = memory_service()
    for body in (DATA, [DATA[:10], DATA[10:]], iter([DATA])):
        minted = service.mint(TEAM, PNG)
        query = urlsplit(minted.upload.url).query
        ticket = service.receive(minted.ticket.id, query, content_type=None, content_length=None, body=body)
        assert (ticket.state, ticket.size) == (State.UPLOADED, len(DATA))


async def _stream() -> AsyncIterator[bytes]:
    yield DATA[:10]
    yield DATA[10:]


def test_the_async_facade_takes_bytes_chunks_or_a_stream() -> None:
    async def main() -> None:
        service = async_memory_service()
        for body in (DATA, [DATA[:10], DATA[10:]], _stream()):
            minted = await service.mint(TEAM, PNG)
            query = urlsplit(minted.upload.url).query
            ticket = await service.receive(minted.ticket.id, query, content_type=None, content_length=None, body=body)
            assert (ticket.state, ticket.size) == (State.UPLOADED, len(DATA))
        # The byte cap holds whatever shape the body has; nothing is stored past it.
        minted = await service.mint(Team("team_tiny", max_upload_bytes=8), PNG)
        query = urlsplit(minted.upload.url).query
        with pytest.raises(PayloadTooLarge):
            await service.receive(minted.ticket.id, query, content_type=None, content_length=None, body=DATA)
        assert (await service.get(Team("team_tiny", max_upload_bytes=8), minted.ticket.id)).state is State.MINTED

    asyncio.run(main())
