"""A PUT streams from ``receive`` into the file blob store under the body deadlines (in-process, scripted client).

Bytes reach the disk while they arrive (no spooling); a client that stalls, trickles,
overshoots the cap or goes away leaves no file and an unchanged ticket; one that sends
nothing after its headers costs no file at all; the 408 and 413 close the connection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest

from tests.server.asgi import DISCONNECT, Answer, Step, body, call, in_pieces, json_post
from upload_tickets import (
    AsyncFileBlobStore,
    AsyncMemoryRateLimiter,
    AsyncMemoryTicketStore,
    AsyncUploadTickets,
    HmacSigner,
    ManualClock,
    Team,
)
from upload_tickets.http import BodyDeadlines
from upload_tickets.testing import START_US, image_bytes
from upload_tickets.testing.kit import UPLOAD_BASE_URL, async_memory_api
from upload_tickets_server import create_app
from upload_tickets_server.app import UploadTicketsApp

KEY = "al_live_body_test_key_000001"
INIT = {"filename": "front.png", "extension": "png", "content_type": "image/png"}
MAX_BYTES = 300_000
DEADLINES = BodyDeadlines(idle_s=0.3, min_bytes_per_s=1000, grace_s=0.2)
PNG = image_bytes("image/png")
LARGE = PNG + bytes(200_000)


@pytest.fixture
def app(tmp_path: Path) -> UploadTicketsApp:
    service = AsyncUploadTickets(
        store=AsyncMemoryTicketStore(),
        limiter=AsyncMemoryRateLimiter(),
        signer=HmacSigner(UPLOAD_BASE_URL, {"k": b"s" * 32}, "k"),
        blobs=AsyncFileBlobStore(tmp_path / "blobs", fsync=False),
        clock=ManualClock(START_US),
        max_upload_bytes=MAX_BYTES,
    )
    return create_app(async_memory_api(service, {KEY: Team("body")}), deadlines=DEADLINES, sweep="external")


def _files(tmp_path: Path, pattern: str) -> list[Path]:
    return [path for path in (tmp_path / "blobs").rglob(pattern) if path.is_file()]


async def _mint(app: UploadTicketsApp) -> tuple[str, str]:
    minted = await call(app, "POST", "/v1/characters/uploads/init", *json_post(INIT, KEY))
    assert minted.status == 201, minted.body
    url = urlsplit(minted.json()["upload_url"])
    return minted.json()["upload_id"], f"{url.path}?{url.query}"


async def _state(app: UploadTicketsApp, upload_id: str) -> str:
    answer = await call(app, "GET", f"/v1/characters/uploads/{upload_id}", {"x-api-key": KEY})
    state: str = answer.json()["state"]
    return state


def _put_headers(length: int | None) -> dict[str, str]:
    if length is None:
        return {"content-type": "image/png", "transfer-encoding": "chunked"}
    return {"content-type": "image/png", "content-length": str(length)}


def _refused(answer: Answer, status: int, code: str) -> None:
    assert (answer.status, answer.json()["error"]["code"]) == (status, code), answer
    assert answer.headers.get("connection") == "close"


def test_a_put_in_tiny_packets_is_stored_whole(app: UploadTicketsApp, tmp_path: Path) -> None:
    async def scenario() -> None:
        upload_id, target = await _mint(app)
        answer = await call(app, "PUT", target, _put_headers(len(LARGE)), in_pieces(LARGE, 700))
        assert (answer.status, answer.json()["size"]) == (200, len(LARGE)), answer
        assert "connection" not in answer.headers
        assert await _state(app, upload_id) == "uploaded"

    anyio.run(scenario)
    assert [path.read_bytes() == LARGE for path in _files(tmp_path, "upl_*")] == [True]
    assert not _files(tmp_path, ".incoming-*")


def test_bytes_reach_the_disk_while_the_body_arrives_and_a_stall_drops_them(
    app: UploadTicketsApp, tmp_path: Path
) -> None:
    seen_while_stalled: list[Path] = []

    async def scenario() -> None:
        upload_id, target = await _mint(app)
        script = in_pieces(LARGE[:150_000], 10_000)
        script[-1] = (0.0, body(script[-1][1]["body"], more=True))  # then silence
        answer: list[Answer] = []

        async def put() -> None:
            answer.append(await call(app, "PUT", target, _put_headers(len(LARGE)), script))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(put)
            await anyio.sleep(DEADLINES.idle_s / 2)
            seen_while_stalled.extend(_files(tmp_path, ".incoming-*"))
        _refused(answer[0], 408, "body_timeout")
        assert await _state(app, upload_id) == "minted"

    anyio.run(scenario)
    # Streamed, not spooled: the bytes received so far were already in the blob store's file.
    assert [path.name.startswith(".incoming-") for path in seen_while_stalled] == [True]
    assert not _files(tmp_path, "*")


def test_a_client_silent_after_its_headers_costs_no_file(app: UploadTicketsApp, tmp_path: Path) -> None:
    async def scenario() -> None:
        upload_id, target = await _mint(app)
        answer: list[Answer] = []

        async def put() -> None:
            answer.append(await call(app, "PUT", target, _put_headers(len(PNG))))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(put)
            await anyio.sleep(DEADLINES.grace_s / 2)
            assert not _files(tmp_path, "*")
        _refused(answer[0], 408, "body_timeout")
        assert await _state(app, upload_id) == "minted"

    anyio.run(scenario)


def test_a_trickle_below_the_minimum_rate_is_dropped(app: UploadTicketsApp, tmp_path: Path) -> None:
    async def scenario() -> None:
        upload_id, target = await _mint(app)
        trickle: list[Step] = [(0.05, body(b"\x89" * 20, more=True)) for _ in range(100)]
        with anyio.fail_after(5):
            answer = await call(app, "PUT", target, _put_headers(2000), trickle)
        _refused(answer, 408, "body_timeout")
        assert answer.received < 20  # ended at the rate deadline, not at the idle one
        assert await _state(app, upload_id) == "minted"

    anyio.run(scenario)
    assert not _files(tmp_path, "*")


@pytest.mark.parametrize("packet", [MAX_BYTES + 1, 50_000])
def test_a_chunked_body_past_the_cap_is_refused_as_it_crosses_it(
    app: UploadTicketsApp, tmp_path: Path, packet: int
) -> None:
    data = PNG + bytes(2 * MAX_BYTES)

    async def scenario() -> None:
        upload_id, target = await _mint(app)
        script = in_pieces(data, packet)
        answer = await call(app, "PUT", target, _put_headers(None), script)
        _refused(answer, 413, "payload_too_large")
        assert answer.received < len(script)  # not read to its end
        assert await _state(app, upload_id) == "minted"

    anyio.run(scenario)
    assert not _files(tmp_path, "*")


@pytest.mark.parametrize("sent", [0, 100_000])
def test_a_client_that_goes_away_gets_nothing_and_leaves_nothing(
    app: UploadTicketsApp, tmp_path: Path, sent: int
) -> None:
    async def scenario() -> None:
        upload_id, target = await _mint(app)
        script: list[Step] = [*in_pieces(LARGE[:sent], 10_000)] if sent else []
        if script:
            script[-1] = (0.0, body(script[-1][1]["body"], more=True))
        script.append((0.0, DISCONNECT))
        answer = await call(app, "PUT", target, _put_headers(len(LARGE)), script)
        assert answer.status is None
        assert await _state(app, upload_id) == "minted"

    anyio.run(scenario)
    assert not _files(tmp_path, "*")


def test_a_stalled_json_body_is_408_and_closes(app: UploadTicketsApp) -> None:
    headers: dict[str, Any] = {"x-api-key": KEY, "content-type": "application/json", "content-length": "200"}

    async def scenario() -> None:
        answer = await call(app, "POST", "/v1/characters/uploads/init", headers, [(0.0, body(b'{"file', more=True))])
        _refused(answer, 408, "body_timeout")

    anyio.run(scenario)


def test_a_refusal_on_the_head_reads_no_body(app: UploadTicketsApp) -> None:
    async def scenario() -> None:
        _, target = await _mint(app)
        tampered = target.replace("sig=", "sig=A")
        answer = await call(app, "PUT", tampered, _put_headers(len(PNG)), [(0.0, body(PNG))])
        _refused(answer, 403, "invalid_signature")
        assert answer.received == 0

    anyio.run(scenario)
