"""The ASGI lifespan: the periodic sweep is awaited on the loop; ``on_shutdown`` runs on the way out."""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

import anyio

from upload_tickets import MintRequest, Team
from upload_tickets.testing.kit import async_memory_api, async_memory_service
from upload_tickets_server import create_app


def test_the_sweeper_evicts_expired_tickets_and_shutdown_closes_the_backend() -> None:
    service, team = async_memory_service(), Team("swept")
    closed: list[bool] = []

    async def on_shutdown() -> None:
        closed.append(True)

    app = create_app(async_memory_api(service), sweep=0.02, on_shutdown=on_shutdown)

    async def scenario() -> None:
        minted = await service.mint(team, MintRequest("a.png", "png", "image/png"))
        service.clock.advance(timedelta(days=3))
        to_app, from_server = anyio.create_memory_object_stream[MutableMapping[str, Any]](4)
        to_server, from_app = anyio.create_memory_object_stream[MutableMapping[str, Any]](4)

        async with to_app, from_server, to_server, from_app, anyio.create_task_group() as tasks:
            tasks.start_soon(app, {"type": "lifespan"}, from_server.receive, to_server.send)
            await to_app.send({"type": "lifespan.startup"})
            assert (await from_app.receive())["type"] == "lifespan.startup.complete"
            with anyio.fail_after(5):
                while await service.store.get(team.id, minted.ticket.id) is not None:
                    await anyio.sleep(0.01)
            assert not closed
            await to_app.send({"type": "lifespan.shutdown"})
            assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"
        assert closed == [True]

    anyio.run(scenario)
