"""No thread hop per request on async stores: the app awaits on the loop, threads only where work blocks.

Every worker-thread call of the async flavour goes through ``anyio.to_thread.run_sync``
(``offload``, the threaded store wrapper, the sync-resolver wrapper), so counting its
calls counts the thread hops. On async memory stores a mint, status read, list, consume
and delete make none; a PUT into the file blob store and a classify do use threads: the
file writes (one per 64 KiB piece, however small the client's packets) and the decoding.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
import pytest

from tests.server.asgi import call, in_pieces, json_post
from upload_tickets import (
    AsyncFileBlobStore,
    AsyncMemoryRateLimiter,
    AsyncMemoryTicketStore,
    AsyncUploadTickets,
    HmacSigner,
    ManualClock,
    Team,
)
from upload_tickets.integrations._body import CHUNK_BYTES
from upload_tickets.testing import START_US, image_bytes
from upload_tickets.testing.kit import UPLOAD_BASE_URL, async_memory_api, async_memory_service
from upload_tickets_server import create_app
from upload_tickets_server.app import UploadTicketsApp

KEY = "al_live_loop_test_key_000001"
INIT = {"filename": "front.png", "extension": "png", "content_type": "image/png"}


class ThreadHops:
    """Counts the calls sent to worker threads, by function name."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def take(self) -> list[str]:
        """The calls since the last ``take``."""
        calls, self.calls = self.calls, []
        return calls


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> ThreadHops:
    counter = ThreadHops()
    real = anyio.to_thread.run_sync

    async def counting(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        inner = function.func if isinstance(function, functools.partial) else function
        counter.calls.append(getattr(inner, "__qualname__", repr(inner)))
        return await real(function, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return counter


def _memory_app() -> UploadTicketsApp:
    return create_app(async_memory_api(async_memory_service(), {KEY: Team("loop")}), sweep="external")


def _file_app(root: Path) -> UploadTicketsApp:
    clock = ManualClock(START_US)
    service = AsyncUploadTickets(
        store=AsyncMemoryTicketStore(),
        limiter=AsyncMemoryRateLimiter(),
        signer=HmacSigner(UPLOAD_BASE_URL, {"k": b"s" * 32}, "k"),
        blobs=AsyncFileBlobStore(root, fsync=False),
        clock=clock,
        max_upload_bytes=4 * 1024 * 1024,
    )
    return create_app(async_memory_api(service, {KEY: Team("loop")}), sweep="external")


def _target(upload_url: str) -> str:
    url = urlsplit(upload_url)
    return f"{url.path}?{url.query}"


def test_on_async_memory_stores_only_the_decoding_leaves_the_loop(hops: ThreadHops) -> None:
    app = _memory_app()
    steps: dict[str, list[str]] = {}

    async def step(name: str, method: str, target: str, headers: dict[str, str], script: Any = ()) -> Any:
        answer = await call(app, method, target, headers, script)
        assert answer.status is not None, name
        assert answer.status < 300, (name, answer)
        steps[name] = hops.take()
        return answer.json() if answer.body else None

    async def scenario() -> None:
        minted = await step("mint", "POST", "/v1/characters/uploads/init", *json_post(INIT, KEY))
        upload_id, png = minted["upload_id"], image_bytes("image/png")
        put_headers = {"content-type": "image/png", "content-length": str(len(png))}
        await step("put", "PUT", _target(minted["upload_url"]), put_headers, in_pieces(png, 16))
        await step("status", "GET", f"/v1/characters/uploads/{upload_id}", {"x-api-key": KEY})
        await step("classify", "POST", "/v1/characters/uploads/classify", *json_post({"upload_id": upload_id}, KEY))
        created = await step("consume", "POST", "/v1/characters", *json_post({"upload_ids": [upload_id]}, KEY))
        await step("list", "GET", "/v1/characters", {"x-api-key": KEY})
        await step("get", "GET", f"/v1/characters/{created['id']}", {"x-api-key": KEY})
        await step("delete", "DELETE", f"/v1/characters/{created['id']}", {"x-api-key": KEY})
        await step("health", "GET", "/healthz", {})
        refused = await call(app, "GET", "/v1/characters", {"x-api-key": "al_live_unknown_key_0000001"})
        assert refused.status == 401
        steps["unknown key"] = hops.take()

    anyio.run(scenario)
    assert steps.pop("classify") == ["ImageClassifier.classify"]
    assert steps == {name: [] for name in steps}, steps
    assert len(steps) == 9


def test_a_large_put_is_written_off_the_loop_a_piece_at_a_time(hops: ThreadHops, tmp_path: Path) -> None:
    app = _file_app(tmp_path)
    data = image_bytes("image/png") + bytes(1024 * 1024)  # a valid head, then 1 MiB
    packet = 1024

    async def scenario() -> None:
        headers, script = json_post(INIT, KEY)
        minted = await call(app, "POST", "/v1/characters/uploads/init", headers, script)
        assert minted.status == 201
        assert hops.take() == []  # a mint needs no thread, file blobs or not
        put_headers = {"content-type": "image/png", "content-length": str(len(data))}
        put = await call(app, "PUT", _target(minted.json()["upload_url"]), put_headers, in_pieces(data, packet))
        assert put.status == 200, put.body
        assert put.json()["size"] == len(data)
        assert "connection" not in put.headers

    anyio.run(scenario)
    calls = hops.take()
    writes = [name for name in calls if name.endswith("write")]
    pieces = -(-len(data) // CHUNK_BYTES)
    # One write per 64 KiB piece, not one per 1 KiB packet; plus making and renaming the file.
    assert len(writes) == pieces, calls
    assert len(calls) == pieces + 2, calls
    stored = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert [path.stat().st_size for path in stored] == [len(data)]
