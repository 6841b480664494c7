# Generated from the _async folder by scripts/unasync.py: edit that source, then run it.
"""In-process adapters: ticket store, rate limiter, blob store and team directory (async source).

The sync flavour (``MemoryTicketStore``, ...) is generated from this file. Both are the
same dicts under one lock each; the async methods never while holding it.

They are thread-safe (one lock each) and bounded: expired buckets are pruned as they
go, and tickets leave through :meth:`MemoryTicketStore.expired` + ``delete`` (the sweep).
Use them for tests, single-process apps and as the reference the contract suite
compares every other backend with.
"""

from __future__ import annotations

import heapq
import io
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import BinaryIO, ClassVar

from upload_tickets._errors import NotFound
from upload_tickets._identity import hash_api_key
from upload_tickets._models import (
    BlobInfo,
    Character,
    CharacterState,
    IdempotencyClaim,
    RateDecision,
    SweepBeat,
    Team,
    UploadTicket,
)
from upload_tickets._policy import MINUTE_US, RatePolicy
from upload_tickets._ratelimit import gcra
from upload_tickets._sync._io import read_capped
from upload_tickets.clock import SystemClock
from upload_tickets.protocols import Clock


class MemoryTicketStore:
    """Tickets in a dict, with per-minute expiry buckets for the sweeper.

    A bucket holds only ticket ids (one list slot each): a heap of ``(expires_at, id)``
    tuples would cost ~80 bytes a ticket, a sixth of what the store holds per ticket.
    """

    #: Its methods never wait, so a cancellation cannot fall inside a step over it: the
    #: facade then skips the shield (a task per step) it gives networked components.
    never_waits: ClassVar[bool] = True

    def __init__(self) -> None:
        self._tickets: dict[str, UploadTicket] = {}
        self._idempotency: dict[tuple[str, str], str] = {}
        self._expiry: dict[int, list[str]] = {}
        self._expiry_minutes: list[int] = []  # heap of the keys of _expiry
        self._characters: dict[str, Character] = {}
        self._claims: dict[tuple[str, str, str], IdempotencyClaim] = {}
        self._lock = threading.Lock()
        self._sweep_lease: tuple[str, int] | None = None
        self._last_sweep: SweepBeat | None = None

    def __len__(self) -> int:
        return len(self._tickets)

    def create(self, ticket: UploadTicket) -> UploadTicket:
        """Store a new ticket, or return the one already minted with its idempotency key."""
        with self._lock:
            if ticket.idempotency_key is not None:
                slot = (ticket.team, ticket.idempotency_key)
                existing = self._idempotency.get(slot)
                if existing is not None:
                    return self._tickets[existing]
                self._idempotency[slot] = ticket.id
            if ticket.id in self._tickets:
                raise ValueError(f"duplicate ticket id {ticket.id}")
            self._tickets[ticket.id] = ticket
            minute = ticket.expires_at // MINUTE_US
            bucket = self._expiry.get(minute)
            if bucket is None:
                bucket = self._expiry[minute] = []
                heapq.heappush(self._expiry_minutes, minute)
            bucket.append(ticket.id)
            return ticket

    def get(self, team: str, ticket_id: str) -> UploadTicket | None:
        """``team``'s ticket with this id, or ``None``."""
        ticket = self._tickets.get(ticket_id)
        return ticket if ticket is not None and ticket.team == team else None

    def get_many(self, team: str, ticket_ids: Sequence[str]) -> list[UploadTicket | None]:
        """``team``'s tickets with these ids, in order."""
        with self._lock:
            found = [self._tickets.get(ticket_id) for ticket_id in ticket_ids]
        return [ticket if ticket is not None and ticket.team == team else None for ticket in found]

    def find_by_idempotency_key(self, team: str, key: str) -> UploadTicket | None:
        """The ticket minted by ``team`` with ``key``, or ``None``."""
        ticket_id = self._idempotency.get((team, key))
        return None if ticket_id is None else self._tickets.get(ticket_id)

    def replace(self, updated: Sequence[UploadTicket]) -> bool:
        """All-or-nothing compare-and-swap on versions."""
        with self._lock:
            return self._swap(updated)

    def _swap(self, updated: Sequence[UploadTicket]) -> bool:
        for new in updated:
            current = self._tickets.get(new.id)
            if current is None or current.version + 1 != new.version:
                return False
        for new in updated:
            self._tickets[new.id] = new
        return True

    def consume(self, updated: Sequence[UploadTicket], character: Character) -> bool:
        """Swap the tickets and add the character under one lock."""
        with self._lock:
            if character.id in self._characters or not self._swap(updated):
                return False
            self._characters[character.id] = character
            return True

    def get_character(self, team: str, character_id: str) -> Character | None:
        """``team``'s character, or ``None``."""
        character = self._characters.get(character_id)
        return character if character is not None and character.team == team else None

    def list_characters(self, team: str, after: str | None, limit: int) -> list[Character]:
        """``team``'s characters after ``after``, in id order (a scan: fine for tests and small sets)."""
        with self._lock:
            ids = sorted(i for i, c in self._characters.items() if c.team == team and (after is None or i > after))
            return [self._characters[i] for i in ids[:limit]]

    def replace_character(self, updated: Character) -> bool:
        """Compare-and-swap on the character's version."""
        with self._lock:
            current = self._characters.get(updated.id)
            if current is None or current.version + 1 != updated.version:
                return False
            self._characters[updated.id] = updated
            return True

    def delete_character(self, character: Character) -> bool:
        """Delete the character if still at its version."""
        with self._lock:
            current = self._characters.get(character.id)
            if current is None or current.version != character.version:
                return False
            del self._characters[character.id]
            return True

    def unsettled_characters(self, limit: int) -> list[Character]:
        """Characters still ``promoting`` or ``deleting``."""
        with self._lock:
            unsettled = [c for c in self._characters.values() if c.state is not CharacterState.READY]
            return unsettled[:limit]

    def claim_idempotency_key(self, team: str, claim: IdempotencyClaim, now_us: int) -> IdempotencyClaim:
        """Store ``claim`` unless a live claim holds its operation and key; return the holder."""
        slot = (team, claim.operation, claim.key)
        with self._lock:
            held = self._claims.get(slot)
            if held is not None and held.expires_at > now_us:
                return held
            self._claims[slot] = claim
            return claim

    def release_idempotency_key(self, team: str, claim: IdempotencyClaim) -> bool:
        """Delete ``claim`` if it still holds its slot."""
        slot = (team, claim.operation, claim.key)
        with self._lock:
            if self._claims.get(slot) != claim:
                return False
            del self._claims[slot]
            return True

    def purge_idempotency_claims(self, now_us: int, limit: int) -> int:
        """Delete up to ``limit`` expired claims."""
        with self._lock:
            due = [slot for slot, claim in self._claims.items() if claim.expires_at <= now_us][:limit]
            for slot in due:
                del self._claims[slot]
            return len(due)

    def claim_sweep(self, holder: str, now_us: int, lease_us: int) -> bool:
        """Take or renew the sweep lease unless another holder's is still running."""
        with self._lock:
            lease = self._sweep_lease
            if lease is not None and lease[0] != holder and lease[1] > now_us:
                return False
            self._sweep_lease = (holder, now_us + lease_us)
            return True

    def release_sweep(self, holder: str) -> None:
        """End ``holder``'s lease early."""
        with self._lock:
            if self._sweep_lease is not None and self._sweep_lease[0] == holder:
                self._sweep_lease = None

    def record_sweep(self, beat: SweepBeat) -> None:
        """Keep ``beat`` as the last finished sweep."""
        self._last_sweep = beat

    def last_sweep(self) -> SweepBeat | None:
        """The last finished sweep, or ``None``."""
        return self._last_sweep

    def expired(self, now_us: int, limit: int) -> list[UploadTicket]:
        """Tickets at or past their TTL, oldest minute first."""
        with self._lock:
            found: list[UploadTicket] = []
            for minute in sorted(m for m in self._expiry_minutes if m <= now_us // MINUTE_US):
                bucket = self._expiry[minute]
                # Ids of deleted tickets are dropped here, lazily, rather than searched for in delete().
                bucket[:] = [ticket_id for ticket_id in bucket if ticket_id in self._tickets]
                for ticket_id in bucket:
                    ticket = self._tickets[ticket_id]
                    if ticket.expires_at <= now_us:
                        found.append(ticket)
                        if len(found) >= limit:
                            return found
            self._drop_empty_buckets()
            return found

    def _drop_empty_buckets(self) -> None:
        while self._expiry_minutes and not self._expiry[self._expiry_minutes[0]]:
            del self._expiry[heapq.heappop(self._expiry_minutes)]

    def delete(self, tickets: Sequence[UploadTicket]) -> int:
        """Delete the tickets that are still at the given versions."""
        with self._lock:
            deleted = 0
            for ticket in tickets:
                current = self._tickets.get(ticket.id)
                if current is None or current.version != ticket.version:
                    continue
                del self._tickets[ticket.id]
                if ticket.idempotency_key is not None:
                    self._idempotency.pop((ticket.team, ticket.idempotency_key), None)
                deleted += 1
            return deleted


class MemoryRateLimiter:
    """GCRA buckets in a dict; a bucket back to full is the same as no bucket, so it is pruned."""

    #: Its methods never wait, so a cancellation cannot fall inside a step over it: the
    #: facade then skips the shield (a task per step) it gives networked components.
    never_waits: ClassVar[bool] = True

    def __init__(self, clock: Clock | None = None) -> None:
        self._own_clock = clock
        self._clock: Clock = clock or SystemClock()
        self._tats: dict[str, int] = {}
        self._lock = threading.Lock()
        self._prune_at = 1024

    def __len__(self) -> int:
        return len(self._tats)

    @property
    def own_clock(self) -> Clock | None:
        """The clock this limiter was built with, or ``None`` (it then follows the service's)."""
        return self._own_clock

    def follow_clock(self, clock: Clock) -> None:
        """Refill by ``clock`` from now on (the service hands its own down)."""
        self._clock = clock

    def acquire(self, key: str, policy: RatePolicy, cost: int = 1) -> RateDecision:
        """Charge ``cost`` tokens from ``key``'s bucket."""
        with self._lock:
            now = self._clock.now_us()
            new_tat, decision = gcra(self._tats.get(key), now, policy, cost)
            if new_tat is not None:
                self._tats[key] = new_tat
                if len(self._tats) >= self._prune_at:
                    self._prune(now)
            return decision

    def _prune(self, now_us: int) -> None:
        self._tats = {key: tat for key, tat in self._tats.items() if tat > now_us}
        self._prune_at = max(1024, 2 * len(self._tats))


class MemoryBlobStore:
    """Blobs in a dict of bytes; for tests and the contract suite's reference."""

    #: Its methods never wait, so a cancellation cannot fall inside a step over it: the
    #: facade then skips the shield (a task per step) it gives networked components.
    never_waits: ClassVar[bool] = True

    def __init__(self) -> None:
        self._blobs: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, chunks: Iterable[bytes], *, max_bytes: int, content_type: str) -> int:
        """Store the bytes; nothing is stored if they exceed ``max_bytes``."""
        data = read_capped(chunks, max_bytes)
        with self._lock:
            self._blobs[key] = (data, content_type)
        return len(data)

    def head(self, key: str) -> BlobInfo | None:
        """Size and type of the blob, or ``None``."""
        entry = self._blobs.get(key)
        return None if entry is None else BlobInfo(size=len(entry[0]), content_type=entry[1])

    def open(self, key: str, *, etag: str | None = None) -> BinaryIO:
        """A stream over the blob's bytes (memory blobs keep no ETag)."""
        entry = self._blobs.get(key)
        if entry is None:
            raise NotFound(f"no blob {key!r}", code="blob_not_found")
        return io.BytesIO(entry[0])

    def promote(self, staged_key: str, key: str, *, etag: str | None) -> None:
        """Copy the staged bytes to ``key`` (memory blobs keep no ETag: ``etag`` must be ``None``)."""
        with self._lock:
            if key in self._blobs:
                return
            entry = self._blobs.get(staged_key)
            if entry is None:
                raise NotFound(f"no blob {staged_key!r} to promote", code="blob_not_found")
            self._blobs[key] = entry

    def delete(self, key: str) -> bool:
        """Delete the blob; ``False`` if it was not there."""
        with self._lock:
            return self._blobs.pop(key, None) is not None

    def keys(self) -> set[str]:
        """Keys currently stored (for tests)."""
        return set(self._blobs)


class MemoryTeamDirectory:
    """API keys (held only as hashes) mapped to teams."""

    def __init__(self, keys: Mapping[str, Team] | None = None) -> None:
        self._teams = {hash_api_key(key): team for key, team in (keys or {}).items()}

    def add(self, api_key: str, team: Team) -> None:
        """Register ``api_key`` for ``team``."""
        self._teams[hash_api_key(api_key)] = team

    def revoke(self, api_key: str) -> bool:
        """Forget ``api_key``: the very next lookup answers ``None``; ``False`` if it was unknown."""
        return self._teams.pop(hash_api_key(api_key), None) is not None

    def team_for_key(self, api_key: str) -> Team | None:
        """The team owning ``api_key``, or ``None``."""
        return self._teams.get(hash_api_key(api_key))


__all__ = ["MemoryBlobStore", "MemoryRateLimiter", "MemoryTeamDirectory", "MemoryTicketStore"]
