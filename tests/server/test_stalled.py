"""Stalled and trickling clients cannot starve the server (real HTTP, three stores).

200 connections send their headers and then nothing, or a byte now and then: signed
and unsigned PUTs to the upload host, and requests to the API routes. While they hang,
a mint, a status read and a classify on fresh connections are answered; afterwards
every stalled request has ended with its status (408 for the ones that passed every
check, the refusal for the others) and left no partial file nor a changed ticket.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.server.conftest import RunningServer, cli, start_server
from tests.server.rawhttp import connect, read_response, send_head, target_of
from tests.services import POSTGRES_URL, REDIS_URL, require
from upload_tickets.testing import image_bytes

INIT = "/v1/characters/uploads/init"
PNG_BODY = {"filename": "front.png", "extension": "png", "content_type": "image/png"}
IDLE_S, GRACE_S, MIN_RATE = 3.0, 4.0, 4096
DEADLINE_FLAGS = ("--body-idle-timeout", str(IDLE_S), "--body-grace", str(GRACE_S), "--body-min-rate", str(MIN_RATE))
UNLIMITED = ("--rate", "6000000", "--burst", "100000", "--sweep-interval", "0", "--max-bytes", "200000")


@pytest.fixture(params=["sqlite", "redis", "postgresql"], scope="module")
def stall_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    store = {"sqlite": (), "redis": ("--store-url", REDIS_URL), "postgresql": ("--store-url", POSTGRES_URL)}
    flags = store[request.param]
    if flags:
        require(flags[1], request.param)
    data_dir = tmp_path_factory.mktemp(f"stall-{request.param}")
    running = start_server(data_dir, *UNLIMITED, *DEADLINE_FLAGS, *flags)
    yield running
    running.stop()


def _mint(client: httpx.Client) -> dict[str, str]:
    response = client.post(INIT, json=PNG_BODY)
    assert response.status_code == 201, response.text
    minted: dict[str, str] = response.json()
    return minted


def _answered_yet(connection: socket.socket) -> bool:
    connection.setblocking(False)
    try:
        return connection.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return False
    finally:
        connection.setblocking(True)


def test_stalled_clients_do_not_starve_the_server(stall_server: RunningServer) -> None:
    server = stall_server
    key = cli("keys", "create", "--team", "stalled", "--data-dir", str(server.data_dir)).strip()
    auth = {"X-Api-Key": key}
    with httpx.Client(base_url=server.base_url, headers=auth, timeout=5) as client:
        signed = [_mint(client) for _ in range(80)]
        ready = _mint(client)
        assert httpx.put(ready["upload_url"], content=image_bytes("image/png")).status_code == 200

    png_put = {"Content-Type": "image/png"}
    # (expected status, connection) for each kind of stalled request
    groups: dict[str, tuple[int, list[socket.socket]]] = {name: (status, []) for name, status in [
        ("signed stall", 408), ("signed trickle", 408), ("unsigned upload", 403),
        ("PUT to init", 405), ("keyed POST stall", 408), ("keyless POST stall", 401),
    ]}  # fmt: skip
    for minted in signed[:40]:
        connection = connect(server.base_url)
        send_head(connection, "PUT", target_of(minted["upload_url"]), {**png_put, "Content-Length": "1000"})
        groups["signed stall"][1].append(connection)
    for minted in signed[40:]:
        connection = connect(server.base_url)
        send_head(connection, "PUT", target_of(minted["upload_url"]), {**png_put, "Content-Length": "100000"})
        groups["signed trickle"][1].append(connection)
    tampered = target_of(signed[0]["upload_url"]).replace("sig=", "sig=A")
    for _ in range(30):
        for group, method, target, headers in [
            ("unsigned upload", "PUT", tampered, {**png_put, "Content-Length": "1000"}),
            ("PUT to init", "PUT", INIT, {**png_put, "Content-Length": "1000"}),
            ("keyed POST stall", "POST", INIT, {**auth, "Content-Type": "application/json", "Content-Length": "200"}),
            ("keyless POST stall", "POST", INIT, {"Content-Type": "application/json", "Content-Length": "200"}),
        ]:
            connection = connect(server.base_url)
            send_head(connection, method, target, headers)
            groups[group][1].append(connection)
    assert sum(len(connections) for _, connections in groups.values()) == 200

    # Meanwhile, callers on fresh connections are answered.
    with httpx.Client(base_url=server.base_url, headers=auth, timeout=5) as client:
        assert client.post(INIT, json=PNG_BODY).status_code == 201
        assert client.get(f"/v1/characters/uploads/{ready['upload_id']}").json()["state"] == "uploaded"
        classified = client.post("/v1/characters/uploads/classify", json={"upload_id": ready["upload_id"]})
        assert classified.status_code == 200, classified.text
    # ... while the stalled requests that passed every check are still waiting.
    still_waiting = groups["signed stall"][1] + groups["keyed POST stall"][1]
    assert not any(_answered_yet(connection) for connection in still_waiting)
    # A body that has not started to arrive costs no file: nothing reaches the blob store yet.
    assert not list((server.data_dir / "blobs").rglob(".incoming-*"))

    trickling = groups["signed trickle"][1]
    deadline = time.monotonic() + GRACE_S + 3
    while time.monotonic() < deadline and not all(_answered_yet(c) for c in trickling):
        for connection in trickling:
            with contextlib.suppress(OSError):  # dropped already
                connection.sendall(b"\x89")
        time.sleep(0.25)

    for name, (status, connections) in groups.items():
        for connection in connections:
            response = read_response(connection, timeout=IDLE_S + 5)
            assert response.status == status, (name, response)
            assert response.headers.get("connection") == "close", (name, response.headers)
            assert response.code()  # the spec's JSON error body
            connection.close()

    blobs = server.data_dir / "blobs"
    assert not list(blobs.rglob(".incoming-*"))
    assert [path.name.partition(".")[0] for path in blobs.rglob("upl_*")] == [ready["upload_id"]]
    with httpx.Client(base_url=server.base_url, headers=auth, timeout=5) as client:
        states = {client.get(f"/v1/characters/uploads/{minted['upload_id']}").json()["state"] for minted in signed}
    assert states == {"minted"}


def test_expect_100_continue(server: RunningServer, keys: dict[str, str]) -> None:
    with httpx.Client(base_url=server.base_url, headers={"X-Api-Key": keys["alpha"]}) as client:
        minted = _mint(client)
    body = image_bytes("image/png")
    expecting = {"Content-Type": "image/png", "Content-Length": str(len(body)), "Expect": "100-continue"}

    # Refused on its headers: the answer comes without the client sending a byte of body.
    refused = connect(server.base_url)
    send_head(refused, "PUT", target_of(minted["upload_url"]).replace("sig=", "sig=A"), expecting)
    response = read_response(refused, timeout=5)
    assert response.status == 403
    assert response.headers["connection"] == "close"
    refused.close()

    # Accepted: 100 Continue first, then the body, then 200.
    accepted = connect(server.base_url)
    send_head(accepted, "PUT", target_of(minted["upload_url"]), expecting)
    interim = read_response(accepted, timeout=5)
    assert interim.status == 100
    accepted.sendall(body)
    final = read_response(accepted, timeout=5)
    assert final.status == 200, final
    accepted.close()


def test_a_body_on_a_bodyless_route_is_refused_unread(server: RunningServer, keys: dict[str, str]) -> None:
    connection = connect(server.base_url)
    headers = {"X-Api-Key": keys["alpha"], "Content-Length": "5000"}
    send_head(connection, "GET", "/v1/characters/uploads/upl_01J00000000000000000000000", headers)
    response = read_response(connection, timeout=5)
    assert (response.status, response.code(), response.headers["connection"]) == (400, "body_not_allowed", "close")
    connection.close()


def test_an_oversized_json_body_is_refused_on_its_length(server: RunningServer, keys: dict[str, str]) -> None:
    connection = connect(server.base_url)
    send_head(connection, "POST", INIT, {"X-Api-Key": keys["alpha"], "Content-Length": str(10**6)})
    response = read_response(connection, timeout=5)
    assert (response.status, response.code()) == (413, "payload_too_large")
    connection.close()


ROUTING_CODES = ("method_not_allowed", "route_not_found")
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE")


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/v1/characters/uploads/init", "POST"),
        ("/v1/characters/uploads/classify", "POST"),
        ("/v1/characters", "GET, POST"),
        ("/v1/characters/chr_01J00000000000000000000000", "DELETE, GET"),
        ("/v1/characters/uploads/upl_01J00000000000000000000000", "GET"),
        ("/uploads/upl_01J00000000000000000000000", "PUT"),
        ("/healthz", "GET"),
        ("/openapi.json", "GET"),
        ("/no/such/route", None),
    ],
)
def test_every_method_on_every_route_answers_json(server: RunningServer, path: str, allowed: str | None) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        for method in METHODS:
            response = client.request(method, path)
            if allowed is not None and method in allowed.split(", "):
                routed = response.status_code < 400 or response.json()["error"]["code"] not in ROUTING_CODES
                assert routed, (method, path, response.text)
                continue
            expected = 404 if allowed is None else 405
            assert response.status_code == expected, (method, path, response.status_code)
            assert response.headers["content-type"] == "application/json"
            if expected == 405:
                assert response.headers["allow"] == allowed
            if method != "HEAD":
                assert response.json()["error"]["code"] in ROUTING_CODES
