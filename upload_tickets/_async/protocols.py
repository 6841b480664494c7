"""The I/O seams, async source: store, limiter, blob store, classifier, key directory.

The sync protocols (``upload_tickets.protocols.TicketStore``, ...) are generated from
this file by ``scripts/unasync.py``; both flavours state one contract.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Sequence
from typing import BinaryIO, Protocol, runtime_checkable

from upload_tickets._models import (
    BlobInfo,
    Character,
    Classification,
    IdempotencyClaim,
    RateDecision,
    SweepBeat,
    Team,
    UploadTicket,
)
from upload_tickets._policy import RatePolicy


@runtime_checkable
class AsyncTicketStore(Protocol):
    """Holds tickets and makes multi-ticket changes atomic; the service decides what changes."""

    async def create(self, ticket: UploadTicket) -> UploadTicket:
        """Store a new ticket and return it.

        If the ticket carries an idempotency key already used by the same team, store
        nothing and return the ticket stored under that key (atomically: two racing
        creates with one key yield one ticket).
        """
        ...

    async def get(self, team: str, ticket_id: str) -> UploadTicket | None:
        """``team``'s ticket with this id, or ``None`` (also when another team owns it).

        The team is part of the address so a store can keep a team's tickets together
        (one Redis Cluster slot, one shard) and answer another team's id with nothing.
        """
        ...

    async def get_many(self, team: str, ticket_ids: Sequence[str]) -> list[UploadTicket | None]:
        """``team``'s tickets with these ids, in order, ``None`` where missing or not theirs."""
        ...

    async def find_by_idempotency_key(self, team: str, key: str) -> UploadTicket | None:
        """The ticket the team minted with this idempotency key, or ``None``."""
        ...

    async def replace(self, updated: Sequence[UploadTicket]) -> bool:
        """Store all of ``updated`` or none of them.

        Each new ticket's ``version`` must be exactly one more than the stored one's;
        if any stored ticket has moved on (or is gone), nothing changes and the answer
        is ``False``.
        """
        ...

    async def expired(self, now_us: int, limit: int) -> list[UploadTicket]:
        """Up to ``limit`` tickets whose ``expires_at`` is at or before ``now_us``."""
        ...

    async def delete(self, tickets: Sequence[UploadTicket]) -> int:
        """Delete these tickets if still at their version; return how many went."""
        ...

    async def consume(self, updated: Sequence[UploadTicket], character: Character) -> bool:
        """:meth:`replace` ``updated`` and create ``character`` in the same atomic step.

        Either the tickets move on and the character exists, or (a stored ticket moved
        on, or is gone) nothing changes and the answer is ``False``. Characters have no
        TTL: nothing but :meth:`delete_character` removes one.
        """
        ...

    async def get_character(self, team: str, character_id: str) -> Character | None:
        """``team``'s character with this id, or ``None`` (also when another team owns it)."""
        ...

    async def list_characters(self, team: str, after: str | None, limit: int) -> list[Character]:
        """Up to ``limit`` of ``team``'s characters with ids above ``after``, in id order."""
        ...

    async def replace_character(self, updated: Character) -> bool:
        """Store ``updated`` if the stored character is exactly one version behind it."""
        ...

    async def delete_character(self, character: Character) -> bool:
        """Delete the character if still at its version."""
        ...

    async def unsettled_characters(self, limit: int) -> list[Character]:
        """Up to ``limit`` characters left ``promoting`` or ``deleting`` (for the sweep to finish)."""
        ...

    async def claim_idempotency_key(self, team: str, claim: IdempotencyClaim, now_us: int) -> IdempotencyClaim:
        """Store ``claim`` unless ``team`` holds a live claim on the same operation and key; return the one that holds.

        Atomic: of two racing claims on one key exactly one is stored and both callers
        get it back. A claim whose ``expires_at`` is at or before ``now_us`` is replaced.
        """
        ...

    async def release_idempotency_key(self, team: str, claim: IdempotencyClaim) -> bool:
        """Delete ``claim`` if the stored claim on its operation and key is still exactly it."""
        ...

    async def purge_idempotency_claims(self, now_us: int, limit: int) -> int:
        """Delete up to ``limit`` claims expired at ``now_us`` (stores whose keys expire by themselves answer 0)."""
        ...


@runtime_checkable
class AsyncPartialSweepStore(Protocol):
    """A store made of parts that can fail alone (Redis Cluster nodes): it lists what it can reach."""

    async def expired_reachable(self, now_us: int, limit: int) -> tuple[list[UploadTicket], tuple[str, ...]]:
        """:meth:`AsyncTicketStore.expired` over the reachable parts, and the names of the others."""
        ...


@runtime_checkable
class AsyncSweepLedger(Protocol):
    """A store that coordinates sweepers: one lease holder at a time, and the last sweep's heartbeat.

    With N workers or N app servers each running a sweeper, the lease makes one of them
    sweep at a time; the heartbeat shows whether any of them sweeps at all.
    """

    async def claim_sweep(self, holder: str, now_us: int, lease_us: int) -> bool:
        """Take or renew the lease until ``now_us + lease_us``; refused while another holder's lease runs."""
        ...

    async def release_sweep(self, holder: str) -> None:
        """End ``holder``'s lease early (nothing happens if another holds it)."""
        ...

    async def record_sweep(self, beat: SweepBeat) -> None:
        """Keep ``beat`` as the last finished sweep, replacing the previous one."""
        ...

    async def last_sweep(self) -> SweepBeat | None:
        """The last finished sweep, or ``None`` if none was ever recorded."""
        ...


@runtime_checkable
class AsyncRateLimiter(Protocol):
    """Charges per-key token buckets; time comes from the limiter's own clock."""

    async def acquire(self, key: str, policy: RatePolicy, cost: int = 1) -> RateDecision:
        """Take ``cost`` tokens from ``key``'s bucket if it holds them."""
        ...


@runtime_checkable
class AsyncChargingTicketStore(Protocol):
    """A store that charges a bucket and creates a ticket in one atomic call.

    Networked backends implement it so a mint costs one round trip; the service uses it
    when the same object is given as both store and limiter.
    """

    async def create_if_allowed(
        self, ticket: UploadTicket, bucket: str, policy: RatePolicy
    ) -> tuple[RateDecision, UploadTicket | None]:
        """Charge one token; if allowed, :meth:`AsyncTicketStore.create` the ticket."""
        ...


@runtime_checkable
class AsyncBatchChargingTicketStore(Protocol):
    """A store that runs many charge-and-create steps in one round trip (e.g. a pipeline)."""

    async def create_many_if_allowed(
        self, tickets: Sequence[UploadTicket], bucket: str, policy: RatePolicy
    ) -> list[tuple[RateDecision, UploadTicket | None]]:
        """:meth:`AsyncChargingTicketStore.create_if_allowed` for each ticket, in order."""
        ...


class AsyncBlobStore(Protocol):
    """Stores uploaded bytes under keys the service chooses (never user input)."""

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int, content_type: str) -> int:
        """Store the bytes atomically and return their size; ``PayloadTooLarge`` stores nothing."""
        ...

    async def head(self, key: str) -> BlobInfo | None:
        """Size and type of the blob, or ``None`` if absent."""
        ...

    async def open(self, key: str, *, etag: str | None = None) -> BinaryIO:
        """A readable binary stream of the blob; ``NotFound`` if absent.

        The stream itself is a plain file object in both flavours (the classifier reads
        it on a worker thread); an async store hands over a local or spooled copy.

        With an ``etag`` (from :meth:`head`) the stream is of exactly those bytes:
        ``UploadChanged`` if the blob no longer carries it. Stores without ETags ignore it.
        """
        ...

    async def promote(self, staged_key: str, key: str, *, etag: str | None) -> None:
        """Make ``key`` a durable copy of the bytes at ``staged_key``; idempotent.

        Done already when ``key`` exists. With an ``etag`` the copy is made only if the
        staged bytes still carry it (``UploadChanged`` otherwise); ``NotFound`` when
        neither key exists. ``key`` must lie outside anything that expires staged bytes.
        """
        ...

    async def delete(self, key: str) -> bool:
        """Delete the blob; ``False`` if it was already gone."""
        ...


class AsyncClassifier(Protocol):
    """Checks that stored bytes are the declared image type and describes them."""

    async def classify(self, stream: BinaryIO, declared_type: str) -> Classification:
        """Describe the image; raise ``UnprocessableImage`` if it is not one of that type."""
        ...


@runtime_checkable
class AsyncTeamDirectory(Protocol):
    """Resolves API keys to teams."""

    async def team_for_key(self, api_key: str) -> Team | None:
        """The team owning ``api_key``, or ``None`` if the key is unknown or revoked."""
        ...


__all__ = [
    "AsyncBatchChargingTicketStore",
    "AsyncBlobStore",
    "AsyncChargingTicketStore",
    "AsyncClassifier",
    "AsyncPartialSweepStore",
    "AsyncRateLimiter",
    "AsyncTeamDirectory",
    "AsyncTicketStore",
]
