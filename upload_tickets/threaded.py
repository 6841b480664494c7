"""Run a sync backend under the async facade, each call on a worker thread: the fallback.

A backend with an async flavour of its own (memory, Redis) is always faster: it waits
on the event loop instead of holding a thread per call. This wrapper is for the others
(a third party's sync store, a blocking blob store) and is what
:func:`~upload_tickets.registry.async_backend_from_url` gives for an adapter that ships
no async factory.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterable, Sequence
from typing import BinaryIO

from upload_tickets._async._primitives import offload
from upload_tickets._models import BlobInfo, Character, IdempotencyClaim, RateDecision, UploadTicket
from upload_tickets._policy import RatePolicy
from upload_tickets.protocols import (
    BlobStore,
    ChargingTicketStore,
    Clock,
    ClockFollower,
    PartialSweepStore,
    RateLimiter,
    TicketStore,
)


class ThreadedTicketStore:
    """An :class:`~upload_tickets.protocols.AsyncTicketStore` over a sync ``TicketStore``."""

    def __init__(self, store: TicketStore) -> None:
        self.inner = store

    async def create(self, ticket: UploadTicket) -> UploadTicket:
        """See ``TicketStore.create``."""
        return await offload(self.inner.create, ticket)

    async def get(self, team: str, ticket_id: str) -> UploadTicket | None:
        """See ``TicketStore.get``."""
        return await offload(self.inner.get, team, ticket_id)

    async def get_many(self, team: str, ticket_ids: Sequence[str]) -> list[UploadTicket | None]:
        """See ``TicketStore.get_many``."""
        return await offload(self.inner.get_many, team, ticket_ids)

    async def find_by_idempotency_key(self, team: str, key: str) -> UploadTicket | None:
        """See ``TicketStore.find_by_idempotency_key``."""
        return await offload(self.inner.find_by_idempotency_key, team, key)

    async def replace(self, updated: Sequence[UploadTicket]) -> bool:
        """See ``TicketStore.replace``."""
        return await offload(self.inner.replace, updated)

    async def expired(self, now_us: int, limit: int) -> list[UploadTicket]:
        """See ``TicketStore.expired``."""
        return await offload(self.inner.expired, now_us, limit)

    async def delete(self, tickets: Sequence[UploadTicket]) -> int:
        """See ``TicketStore.delete``."""
        return await offload(self.inner.delete, tickets)

    async def consume(self, updated: Sequence[UploadTicket], character: Character) -> bool:
        """See ``TicketStore.consume``."""
        return await offload(self.inner.consume, updated, character)

    async def get_character(self, team: str, character_id: str) -> Character | None:
        """See ``TicketStore.get_character``."""
        return await offload(self.inner.get_character, team, character_id)

    async def list_characters(self, team: str, after: str | None, limit: int) -> list[Character]:
        """See ``TicketStore.list_characters``."""
        return await offload(self.inner.list_characters, team, after, limit)

    async def replace_character(self, updated: Character) -> bool:
        """See ``TicketStore.replace_character``."""
        return await offload(self.inner.replace_character, updated)

    async def delete_character(self, character: Character) -> bool:
        """See ``TicketStore.delete_character``."""
        return await offload(self.inner.delete_character, character)

    async def unsettled_characters(self, limit: int) -> list[Character]:
        """See ``TicketStore.unsettled_characters``."""
        return await offload(self.inner.unsettled_characters, limit)

    async def claim_idempotency_key(self, team: str, claim: IdempotencyClaim, now_us: int) -> IdempotencyClaim:
        """See ``TicketStore.claim_idempotency_key``."""
        return await offload(self.inner.claim_idempotency_key, team, claim, now_us)

    async def release_idempotency_key(self, team: str, claim: IdempotencyClaim) -> bool:
        """See ``TicketStore.release_idempotency_key``."""
        return await offload(self.inner.release_idempotency_key, team, claim)

    async def purge_idempotency_claims(self, now_us: int, limit: int) -> int:
        """See ``TicketStore.purge_idempotency_claims``."""
        return await offload(self.inner.purge_idempotency_claims, now_us, limit)


class ThreadedPartialSweepStore(ThreadedTicketStore):
    """:class:`ThreadedTicketStore` over a store that sweeps what it can reach."""

    inner: PartialSweepStore  # type: ignore[assignment]  # narrowed: the wrapped store has this method too

    async def expired_reachable(self, now_us: int, limit: int) -> tuple[list[UploadTicket], tuple[str, ...]]:
        """See ``PartialSweepStore.expired_reachable``."""
        return await offload(self.inner.expired_reachable, now_us, limit)


class ThreadedRateLimiter:
    """An :class:`~upload_tickets.protocols.AsyncRateLimiter` over a sync ``RateLimiter``."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.inner = limiter

    async def acquire(self, key: str, policy: RatePolicy, cost: int = 1) -> RateDecision:
        """See ``RateLimiter.acquire``."""
        return await offload(self.inner.acquire, key, policy, cost)


class _ClockFollowing:
    inner: RateLimiter

    @property
    def own_clock(self) -> Clock | None:
        """The wrapped component's own clock."""
        return self.inner.own_clock if isinstance(self.inner, ClockFollower) else None

    def follow_clock(self, clock: Clock) -> None:
        """Hand the service's clock to the wrapped component."""
        if isinstance(self.inner, ClockFollower):
            self.inner.follow_clock(clock)


class ThreadedClockFollowingLimiter(_ClockFollowing, ThreadedRateLimiter):
    """:class:`ThreadedRateLimiter` over an in-process limiter that keeps the service's time."""


class ThreadedChargingStore(ThreadedTicketStore, ThreadedRateLimiter):
    """Store and limiter in one sync object that charges and creates atomically (one round trip per mint)."""

    inner: ChargingTicketStore  # type: ignore[assignment]  # one object: store, limiter and charging store

    def __init__(self, store: ChargingTicketStore) -> None:
        self.inner = store

    async def create_if_allowed(
        self, ticket: UploadTicket, bucket: str, policy: RatePolicy
    ) -> tuple[RateDecision, UploadTicket | None]:
        """See ``ChargingTicketStore.create_if_allowed``."""
        return await offload(self.inner.create_if_allowed, ticket, bucket, policy)


class ThreadedBlobStore:
    """An :class:`~upload_tickets.protocols.AsyncBlobStore` over a sync ``BlobStore``.

    A PUT's body arrives on the event loop; it is collected in memory (up to the
    upload's byte cap) before the sync store writes it on a worker thread.
    """

    def __init__(self, blobs: BlobStore) -> None:
        self.inner = blobs

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int, content_type: str) -> int:
        """See ``BlobStore.put``."""
        from upload_tickets._async._io import read_capped

        data = await read_capped(chunks, max_bytes)
        put = functools.partial(self.inner.put, max_bytes=max_bytes, content_type=content_type)
        return await offload(put, key, [data])

    async def head(self, key: str) -> BlobInfo | None:
        """See ``BlobStore.head``."""
        return await offload(self.inner.head, key)

    async def open(self, key: str, *, etag: str | None = None) -> BinaryIO:
        """See ``BlobStore.open``."""
        opened: list[BinaryIO] = []
        try:
            # Recorded by the thread, so a caller cancelled meanwhile still closes the stream.
            await offload(lambda: opened.append(self.inner.open(key, etag=etag)))
        except BaseException:
            for stream in opened:
                stream.close()
            raise
        return opened[0]

    async def promote(self, staged_key: str, key: str, *, etag: str | None) -> None:
        """See ``BlobStore.promote``."""
        await offload(functools.partial(self.inner.promote, etag=etag), staged_key, key)

    async def delete(self, key: str) -> bool:
        """See ``BlobStore.delete``."""
        return await offload(self.inner.delete, key)


def threaded_store(store: TicketStore) -> ThreadedTicketStore:
    """The async wrapper that fits ``store``: charging and partial-sweep stores keep those powers."""
    if isinstance(store, ChargingTicketStore) and isinstance(store, RateLimiter):
        return ThreadedChargingStore(store)
    if isinstance(store, PartialSweepStore):
        return ThreadedPartialSweepStore(store)
    return ThreadedTicketStore(store)


def threaded_limiter(limiter: RateLimiter) -> ThreadedRateLimiter:
    """The async wrapper of ``limiter`` (an in-process one keeps following the service's clock)."""
    if isinstance(limiter, ClockFollower):
        return ThreadedClockFollowingLimiter(limiter)
    return ThreadedRateLimiter(limiter)


__all__ = [
    "ThreadedBlobStore",
    "ThreadedChargingStore",
    "ThreadedClockFollowingLimiter",
    "ThreadedPartialSweepStore",
    "ThreadedRateLimiter",
    "ThreadedTicketStore",
    "threaded_limiter",
    "threaded_store",
]
