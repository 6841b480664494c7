"""A mint on a fresh connection while hundreds of PUTs stall after their headers.

The baseline is the same mint with no stalled connection open, measured in the same
run; the ratio says how much the stalled clients slow a legitimate caller down. Half
of the stalled PUTs carry a valid signed URL (they pass every check, then send no
body), half go unsigned to the API routes. A mint that gets no answer within
``timeout_s`` counts as ``timeout_s``.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import tempfile
import time
from urllib.parse import urlsplit

import httpx

from benchmarks._harness import Figure
from benchmarks._server import create_key, serve_command, serving
from upload_tickets.testing import image_bytes
from upload_tickets.testing.processes import free_port

_INIT = "/v1/characters/uploads/init"
_PNG = image_bytes("image/png")
_BODY = {"filename": "front.png", "extension": "png", "content_type": "image/png"}


def _stall(port: int, target: str) -> socket.socket:
    """Send a PUT's headers promising a body, then nothing."""
    connection = socket.create_connection(("127.0.0.1", port))
    head = f"PUT {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n"
    connection.sendall(head.encode())
    return connection


def _seconds(port: int, key: str, timeout_s: float, path: str, body: object, status: int) -> float:
    start = time.perf_counter()
    # A new connection each time, as a new caller would open.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        headers = {"X-Api-Key": key, "Content-Type": "application/json"}
        connection.request("POST", path, json.dumps(body).encode(), headers)
        response = connection.getresponse()
        assert response.status == status, response.read()
        response.read()
    except TimeoutError:
        return timeout_s
    finally:
        connection.close()
    return time.perf_counter() - start


def run(*, stalled: int, rounds: int, store: str, store_url: str | None, timeout_s: float = 8.0) -> list[Figure]:
    """Mint and classify latency with ``stalled`` PUTs open, next to the same calls with none."""
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        key = create_key(data_dir)
        base = f"http://127.0.0.1:{port}"
        with serving(serve_command(data_dir, port, store_url), port):
            signed = []
            for _ in range(stalled // 2):
                url = urlsplit(httpx.post(base + _INIT, json=_BODY, headers={"X-Api-Key": key}).json()["upload_url"])
                signed.append(f"{url.path}?{url.query}")
            targets = signed + [_INIT] * (stalled - len(signed))
            minted = httpx.post(base + _INIT, json=_BODY, headers={"X-Api-Key": key}).json()
            httpx.put(minted["upload_url"], content=_PNG, headers={"Content-Type": "image/png"}).raise_for_status()
            calls = {
                "mint": (_INIT, _BODY, 201),
                "classify": ("/v1/characters/uploads/classify", {"upload_id": minted["upload_id"]}, 200),
            }
            idle: dict[str, list[float]] = {name: [] for name in calls}
            loaded: dict[str, list[float]] = {name: [] for name in calls}
            for _ in range(rounds):
                for name, call in calls.items():
                    idle[name].append(_seconds(port, key, timeout_s, *call))
                connections = [_stall(port, target) for target in targets]
                try:
                    time.sleep(0.2)
                    for name, call in calls.items():
                        loaded[name].append(_seconds(port, key, timeout_s, *call))
                finally:
                    for connection in connections:
                        connection.close()
                time.sleep(0.2)
    return [
        Figure(
            f"{name} with {stalled} stalled PUTs ({store})",
            f"{name} with none stalled",
            tuple(s * 1e6 for s in loaded[name]),
            tuple(s * 1e6 for s in idle[name]),
            target=f"<= 3 (a call that gets no answer counts {timeout_s:.0f} s)",
        )
        for name in calls
    ]


if __name__ == "__main__":
    for store, url in (("SQLite", None), ("Redis", os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))):
        for figure in run(stalled=200, rounds=3, store=store, store_url=url):
            print(figure.row())
