"""What a framework adapter costs: an upload's status read through it, next to the plain app it wraps.

Every adapter's example (``./dev example NAME``) runs under its deployment server, and
so does its baseline, the framework-free app mounted the same way at ``/uploads``
(``benchmarks/_plain_apps.py``): the plain ASGI app under uvicorn for FastAPI,
Starlette, Litestar and Django's ASGI handler; the plain WSGI app under waitress for
Flask and Django's WSGI handler. The request is ``GET .../uploads/{id}`` with the demo
key (API key lookup, routing, one store read, JSON): a mint would meet the spec's rate
limit first. Django's ASGI handler is set next to its own floor instead (a view that
answers a constant, ``benchmarks/_django_floor.py``): it costs milliseconds by itself.
Same keep-alive load generator, alternating rounds.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from benchmarks._harness import Figure, throughput_figure
from benchmarks._http_load import requests_per_second
from upload_tickets.testing.processes import free_port, port_answers, running

_ROOT = Path(__file__).resolve().parents[1]
_KEY = "al_live_demo_key_0001"
_INIT = {"filename": "front.png", "extension": "png", "content_type": "image/png"}
CONNECTIONS = 8
# The same flags as `./dev example` (uvicorn's access log included), so only the app differs.
_UVICORN = [".venv/bin/uvicorn", "--host", "127.0.0.1"]
_WAITRESS = [".venv/bin/waitress-serve", "--connection-limit=1000", "--threads=8"]

#: Ports of servers that answer a constant (no mint needed for their request).
_FLOORS: set[int] = set()

#: Adapter example -> its baseline: the plain app it wraps under the same server, or Django's floor.
_PAIRS = {
    "fastapi": "asgi",
    "starlette": "asgi",
    "litestar": "asgi",
    "django-asgi": "django",
    "flask": "wsgi",
    "django": "wsgi",
}


def _baseline(kind: str, port: int) -> list[str]:
    if kind == "asgi":
        return [*_UVICORN, "--port", str(port), "benchmarks._plain_apps:asgi"]
    if kind == "django":
        return [*_UVICORN, "--port", str(port), "benchmarks._django_floor:application"]
    return [*_WAITRESS, f"--listen=127.0.0.1:{port}", "benchmarks._plain_apps:wsgi"]


_BASELINE_NAMES = {
    "asgi": "plain ASGI app (uvicorn)",
    "wsgi": "plain WSGI app (waitress)",
    "django": "Django view answering a constant (uvicorn)",
}


def _status_request(port: int) -> bytes:
    if port in _FLOORS:
        path = "/uploads/v1/characters/uploads/upl_0"
        return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {_KEY}\r\n\r\n".encode()
    minted = httpx.post(
        f"http://127.0.0.1:{port}/uploads/v1/characters/uploads/init", json=_INIT, headers={"X-Api-Key": _KEY}
    )
    assert minted.status_code == 201, minted.text
    path = f"/uploads/v1/characters/uploads/{minted.json()['upload_id']}"
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {_KEY}\r\n\r\n".encode()


def run(*, seconds: float, rounds: int, examples: tuple[str, ...] = tuple(_PAIRS)) -> list[Figure]:
    """One figure per adapter: its status reads per second next to its baseline's."""
    figures = []
    for example in examples:
        kind = _PAIRS[example]
        ours, plain = free_port(), free_port()
        env = {**os.environ, "PORT": str(ours), "UPLOAD_TICKETS_ORIGIN": f"http://127.0.0.1:{ours}"}
        plain_env = {**os.environ, "UPLOAD_TICKETS_ORIGIN": f"http://127.0.0.1:{plain}"}
        if kind == "django":
            _FLOORS.add(plain)
        with (
            running(["./dev", "example", example], port_answers(ours), name=example, env=env, cwd=_ROOT),
            running(_baseline(kind, plain), port_answers(plain), name=f"plain {kind}", env=plain_env, cwd=_ROOT),
        ):
            requests = {ours: _status_request(ours), plain: _status_request(plain)}
            rps: dict[int, list[float]] = {ours: [], plain: []}
            for port, request in requests.items():
                requests_per_second("127.0.0.1", port, request, connections=CONNECTIONS, seconds=0.2)
            for _ in range(rounds):
                for port, request in requests.items():
                    measured, statuses = requests_per_second(
                        "127.0.0.1", port, request, connections=CONNECTIONS, seconds=seconds
                    )
                    assert set(statuses) == {200}, (example, statuses)
                    rps[port].append(measured)
        server = "waitress" if kind == "wsgi" else "uvicorn"
        figures.append(
            throughput_figure(
                f"status read, {example} adapter ({server})",
                _BASELINE_NAMES[kind],
                rps[ours],
                rps[plain],
                target="<= 2 (what the framework adds)",
            )
        )
    return figures


if __name__ == "__main__":
    for figure in run(seconds=2.0, rounds=3):
        print(figure.row())
