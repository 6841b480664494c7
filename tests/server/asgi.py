"""Driving the ASGI app in-process with a scripted client: bodies that stall, trickle or vanish."""

from __future__ import annotations

import json
from collections.abc import MutableMapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio
import attrs

from upload_tickets_server.app import UploadTicketsApp

#: A scripted client step: wait this many seconds, then deliver this ASGI message.
Step = tuple[float, dict[str, Any]]


def body(data: bytes, more: bool = False) -> dict[str, Any]:
    """An ``http.request`` message."""
    return {"type": "http.request", "body": data, "more_body": more}


def in_pieces(data: bytes, size: int, every_s: float = 0.0) -> list[Step]:
    """``data`` as ``http.request`` messages of ``size`` bytes, ``every_s`` apart, the last one final."""
    pieces = [data[start : start + size] for start in range(0, len(data), size)] or [b""]
    return [(every_s, body(piece, more=index < len(pieces) - 1)) for index, piece in enumerate(pieces)]


DISCONNECT: dict[str, Any] = {"type": "http.disconnect"}


@attrs.define
class Answer:
    """What the app sent: status, headers (lower-case names), body; ``None`` status if it sent nothing."""

    status: int | None
    headers: dict[str, str]
    body: bytes
    received: int  # how many scripted messages the app asked for

    def json(self) -> Any:
        return json.loads(self.body)


async def call(
    app: UploadTicketsApp,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    script: Sequence[Step] = (),
) -> Answer:
    """One request; ``receive`` plays ``script``, then waits forever (a client gone quiet)."""
    url = urlsplit(target)
    scope = {
        "type": "http",
        "method": method,
        "path": url.path,
        "query_string": url.query.encode("latin-1"),
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
    }
    steps = list(script)
    received = 0
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received >= len(steps):
            await anyio.sleep_forever()
        delay, message = steps[received]
        received += 1
        if delay:
            await anyio.sleep(delay)
        return message

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    if not sent:
        return Answer(None, {}, b"", received)
    start, *rest = sent
    raw = start["headers"]
    return Answer(
        start["status"],
        {k.decode("latin-1"): v.decode("latin-1") for k, v in raw},
        b"".join(m.get("body", b"") for m in rest),
        received,
    )


def json_post(payload: object, key: str) -> tuple[dict[str, str], list[Step]]:
    """Headers and script of a JSON POST with an API key."""
    data = json.dumps(payload).encode()
    headers = {"x-api-key": key, "content-type": "application/json", "content-length": str(len(data))}
    return headers, [(0.0, body(data))]
