"""Cancel ``AsyncS3BlobStore`` at every await of head, open, put, promote and delete (on s3rver): nothing half-done.

The checkpoints are the steps httpcore reports through its ``trace`` extension (sending
the headers, the body, awaiting the reply's headers, its body; before and after each)
and each chunk of a PUT's body. An operation is run once per checkpoint ``k``,
cancelled at ``k`` by ``task.cancel()`` or by an expiring ``asyncio.timeout``, until a
run ends before reaching ``k``. After each cancellation the object is whole or absent,
the operation run again succeeds, and the client's one pooled connection is free again:
the store's client allows a single connection and gives up after a second, so a
connection a cancelled request kept would fail the next call.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.s3.support import S3Server
from upload_tickets_s3 import AsyncS3BlobStore

STAGED, OWNED = "staged/team_a/upl_cancel", "characters/team_a/chr_cancel/0"
BODY = [b"first chunk, ", b"second chunk, ", b"last chunk"]
WHOLE = b"".join(BODY)


class Mode(enum.Enum):
    """How the cancellation is made."""

    NATIVE = "task.cancel()"
    TIMEOUT = "asyncio.timeout expiring"


class Checkpoints:
    """Counts an operation's checkpoints and cancels it at the ``at``-th."""

    def __init__(self) -> None:
        self.count = 0
        self.at: int | None = None
        self.fire: Callable[[], object] = lambda: None
        self.fired = False

    def arm(self, at: int | None, fire: Callable[[], object]) -> None:
        """Count from zero again; call ``fire`` at checkpoint ``at`` (``None``: never)."""
        self.count, self.at, self.fire, self.fired = 0, at, fire, False

    async def reached(self) -> None:
        """One checkpoint: the cancellation, when it is this one's, lands right here."""
        self.count += 1
        if self.count != self.at:
            return
        self.fired = True
        self.fire()
        # A timeout's callback runs on a later turn of the loop: wait for it here. A step the
        # store shields runs on (its caller gets the cancellation once it is done).
        for _ in range(3):
            await asyncio.sleep(0)

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's ``trace`` extension: every step of a request but its closing (which is shielded)."""
        if not event.endswith(".failed") and "response_closed" not in event:
            await self.reached()

    async def body(self) -> AsyncIterator[bytes]:
        """:data:`BODY`, one checkpoint before each chunk."""
        for chunk in BODY:
            await self.reached()
            yield chunk


Operation = Callable[[], Awaitable[object]]


async def _cancelled_at(checkpoints: Checkpoints, at: int, mode: Mode, operation: Operation) -> bool:
    """Run ``operation`` cancelled at checkpoint ``at``; whether the cancellation fired (else it just finished)."""
    if mode is Mode.NATIVE:
        task = asyncio.ensure_future(operation())
        checkpoints.arm(at, task.cancel)
        await asyncio.wait([task])
        assert task.cancelled() == checkpoints.fired
        if not task.cancelled():
            task.result()
    else:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(None) as scope:
                checkpoints.arm(at, lambda: scope.reschedule(loop.time()))
                await operation()
        except TimeoutError:
            assert checkpoints.fired
        else:
            assert not checkpoints.fired
    fired = checkpoints.fired
    checkpoints.arm(None, lambda: None)
    return fired


async def _read(store: AsyncS3BlobStore, key: str) -> bytes | None:
    if await store.head(key) is None:
        return None
    with await store.open(key) as stream:
        return stream.read()


async def _each_cancellation(server: S3Server, mode: Mode) -> dict[str, int]:
    """Every operation cancelled at each of its checkpoints; how many checkpoints each had."""
    checkpoints = Checkpoints()

    async def add_trace(request: httpx.Request) -> None:
        request.extensions["trace"] = checkpoints.trace

    one_connection = httpx.Limits(max_connections=1)
    client = httpx.AsyncClient(
        limits=one_connection, timeout=httpx.Timeout(5.0, pool=1.0), event_hooks={"request": [add_trace]}
    )
    store = server.async_blobs(client)
    counts: dict[str, int] = {}

    async def staged() -> str | None:
        await store.put(STAGED, _whole(), max_bytes=100, content_type="image/png")
        info = await store.head(STAGED)
        assert info is not None
        return info.etag

    async def check(name: str, operation: Operation, settled: Callable[[], Awaitable[None]]) -> None:
        at = 1
        while True:
            await store.head(OWNED)  # the one connection, open and idle: every run starts alike
            if not await _cancelled_at(checkpoints, at, mode, operation):
                break
            await settled()
            at += 1
        counts[name] = at - 1

    async def whole_or_absent(key: str, again: Operation) -> None:
        assert await _read(store, key) in (None, WHOLE)
        await again()

    try:
        etag = await staged()
        await check("head", lambda: store.head(STAGED), _nothing)
        await check("open", lambda: store.open(STAGED, etag=etag), _nothing)

        async def put_again() -> None:
            assert await _read(store, STAGED) in (None, WHOLE)
            await staged()

        await check(
            "put", lambda: store.put(STAGED, checkpoints.body(), max_bytes=100, content_type="image/png"), put_again
        )

        async def promote_again() -> None:
            await whole_or_absent(OWNED, lambda: store.promote(STAGED, OWNED, etag=etag))
            assert await _read(store, OWNED) == WHOLE
            assert await store.delete(OWNED)

        await check("promote", lambda: store.promote(STAGED, OWNED, etag=etag), promote_again)

        async def delete_again() -> None:
            await whole_or_absent(STAGED, lambda: store.delete(STAGED))
            assert await store.head(STAGED) is None
            await staged()

        await check("delete", lambda: store.delete(STAGED), delete_again)
    finally:
        await client.aclose()
    return counts


async def _nothing() -> None:
    return None


async def _whole() -> AsyncIterator[bytes]:
    yield WHOLE


@pytest.mark.parametrize("mode", list(Mode), ids=[mode.name.lower() for mode in Mode])
def test_a_cancelled_call_leaves_no_half_state_and_frees_its_connection(s3rver: S3Server, mode: Mode) -> None:
    counts = asyncio.run(_each_cancellation(s3rver.isolated(), mode))
    # Every request has the same checkpoints (before and after sending its headers, its body,
    # receiving the reply's headers, its body); promote and delete send two (a HEAD first).
    per_request = counts["head"]
    assert per_request >= 4
    assert counts == {
        "head": per_request,
        "open": per_request,
        "put": per_request + len(BODY),
        "promote": 2 * per_request,
        "delete": 2 * per_request,
    }
