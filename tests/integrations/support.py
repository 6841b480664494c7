"""What every framework adapter is held to over real HTTP: the whole flow, and 200 stalled uploads.

Each adapter's test starts its framework's usual server (uvicorn, waitress, ...) on a
free port with :func:`upload_tickets.testing.processes.running` and calls these with the
base URL of the mount, e.g. ``http://127.0.0.1:PORT/uploads``.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from tests.server.rawhttp import connect, send_head, target_of
from upload_tickets.testing import image_bytes
from upload_tickets.testing.processes import free_port, port_answers, running

ROOT = Path(__file__).resolve().parents[2]

INIT = "/v1/characters/uploads/init"
PNG_BODY = {"filename": "front.png", "extension": "png", "content_type": "image/png"}
#: How many tickets the stalled PUTs share.
STALLED_TICKETS = 5


@contextlib.contextmanager
def example_app(name: str, api_key: str, log: Path | None = None) -> Iterator[str]:
    """``./dev example NAME`` on a free port, ``api_key`` its demo key; the base URL of its ``/uploads`` mount."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "UPLOAD_TICKETS_ORIGIN": f"http://127.0.0.1:{port}",
        "UPLOAD_TICKETS_DEMO_KEY": api_key,
    }
    with running(["./dev", "example", name], port_answers(port), env=env, cwd=ROOT, name=f"{name} example", log=log):
        yield f"http://127.0.0.1:{port}/uploads"


def mint(client: httpx.Client, mount_url: str) -> dict[str, Any]:
    """``POST .../init`` for one PNG; the answer's JSON."""
    response = client.post(f"{mount_url}{INIT}", json=PNG_BODY)
    assert response.status_code == 201, response.text
    minted: dict[str, Any] = response.json()
    return minted


def answered(response: httpx.Response, status: int) -> Any:
    """The JSON of ``response``, which must have ``status``."""
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()


def full_flow(mount_url: str, headers: Mapping[str, str]) -> dict[str, object]:
    """init -> PUT real bytes to the mounted upload host -> status -> classify -> consume -> read; the character."""
    png = image_bytes("image/png")
    with httpx.Client(headers=dict(headers), timeout=10) as client:
        minted = mint(client, mount_url)
        upload_id = minted["upload_id"]
        # The upload URL leads to this very mount: the adapter derived its path.
        assert minted["upload_url"].startswith(f"{mount_url}/"), (minted["upload_url"], mount_url)
        put = httpx.put(minted["upload_url"], content=png, headers=minted["upload_headers"], timeout=10)
        assert answered(put, 200)["size"] == len(png)
        status = answered(client.get(f"{mount_url}/v1/characters/uploads/{upload_id}"), 200)
        assert status["state"] == "uploaded"
        classify = client.post(f"{mount_url}/v1/characters/uploads/classify", json={"upload_id": upload_id})
        assert answered(classify, 200)["content_type"] == "image/png"
        character: dict[str, object] = answered(
            client.post(f"{mount_url}/v1/characters", json={"upload_ids": [upload_id]}), 201
        )
        assert answered(client.get(f"{mount_url}/v1/characters/{character['id']}"), 200) == character
        # A consumed upload cannot be consumed twice: the spec's error body, not the framework's.
        twice = client.post(f"{mount_url}/v1/characters", json={"upload_ids": [upload_id]})
        assert answered(twice, 409)["error"]["code"] == "upload_consumed"
        # Malformed JSON is the spec's 400, never a framework's 422.
        malformed = client.post(f"{mount_url}{INIT}", content=b"{", headers={"Content-Type": "application/json"})
        assert answered(malformed, 400)["error"]["type"] == "invalid_request_error"
        return character


@contextlib.contextmanager
def stalled_uploads(mount_url: str, headers: Mapping[str, str], count: int = 200) -> Iterator[list[socket.socket]]:
    """``count`` signed PUTs that send their headers and then nothing, held open for the block.

    They share a few tickets (every one passes the upload host's checks, so each waits
    for its body): the spec's burst of 60 mints per team is left for the callers.
    """
    with httpx.Client(headers=dict(headers), timeout=10) as client:
        minted = [mint(client, mount_url) for _ in range(STALLED_TICKETS)]
    connections: list[socket.socket] = []
    try:
        for index in range(count):
            upload = minted[index % len(minted)]
            connection = connect(upload["upload_url"])
            send_head(
                connection,
                "PUT",
                target_of(upload["upload_url"]),
                {"Content-Type": "image/png", "Content-Length": "1000"},
            )
            connections.append(connection)
        yield connections
    finally:
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.close()


def mint_while_stalled(mount_url: str, headers: Mapping[str, str], count: int = 200) -> None:
    """The stalled-upload test: with ``count`` PUTs stalled, a mint on a fresh connection completes in time."""
    with stalled_uploads(mount_url, headers, count), httpx.Client(headers=dict(headers), timeout=5) as fresh:
        assert mint(fresh, mount_url)["upload_id"].startswith("upl_")
