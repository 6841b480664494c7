"""Frozen value objects passed between the service, its rules and its adapters.

Times are integer microseconds since the Unix epoch throughout; conversion to ISO 8601
happens only at the HTTP edge.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping

import attrs

from upload_tickets._errors import InvalidRequest


class State(enum.StrEnum):
    """Where an upload ticket is in its lifecycle (time-based expiry is derived, not stored)."""

    MINTED = "minted"
    UPLOADED = "uploaded"
    CLASSIFIED = "classified"
    CONSUMED = "consumed"
    #: Claimed by the sweeper: expired, its bytes are being evicted, then the record goes.
    EVICTING = "evicting"


class CharacterState(enum.StrEnum):
    """Where a character is in its life; its bytes are the character's from ``promoting`` on.

    ``promoting``: committed with the consume; its bytes are being copied from the staged
    upload keys to the character's own keys. ``ready``: the copies are durable and the
    staged bytes gone. ``deleting``: a delete is under way (bytes first, then the record).
    """

    PROMOTING = "promoting"
    READY = "ready"
    DELETING = "deleting"


#: Team ids are path segments of blob keys and Redis hash tags: no "/", no braces, no
#: leading dot, nothing a key layout would have to escape.
TEAM_ID_RE = re.compile(r"\A[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}\Z")


def _team_id(_: object, __: object, value: str) -> None:
    if not isinstance(value, str) or not TEAM_ID_RE.match(value):
        raise InvalidRequest(
            f"team ids are 1-64 of A-Z a-z 0-9 _ . - (not starting with a dot), got {value!r}", param="team"
        )


@attrs.frozen
class Team:
    """An API client: uploads are owned by, and only visible to, their team."""

    id: str = attrs.field(validator=_team_id)
    pinned_version: str | None = None


@attrs.frozen
class MintRequest:
    """A validated body of ``POST /v1/characters/uploads/init``."""

    filename: str
    extension: str
    content_type: str


@attrs.frozen
class Classification:
    """What ``classify`` found in the stored bytes."""

    detected_type: str
    width: int
    height: int
    pose: str


# No __weakref__ slot: nothing takes weak references to tickets, and a million of them
# in the memory store would pay 8 MB for it.
@attrs.frozen(weakref_slot=False)
class UploadTicket:
    """One minted upload: who owns it, what may be uploaded, and where it stands."""

    id: str
    team: str
    filename: str
    extension: str
    content_type: str
    api_version: str
    created_at: int
    url_expires_at: int
    expires_at: int
    max_bytes: int
    blob_key: str
    state: State = State.MINTED
    version: int = 0
    size: int | None = None
    uploaded_at: int | None = None
    classification: Classification | None = None
    character_id: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    #: The object's ETag when its bytes were confirmed (object storage only): consume
    #: copies exactly those bytes, so bytes replaced after the check are refused.
    etag: str | None = None

    def is_expired(self, now_us: int) -> bool:
        """True once the ticket TTL has passed: it is dead for every operation."""
        return now_us >= self.expires_at


@attrs.frozen
class SignedUpload:
    """Where and how the client PUTs the bytes of one ticket."""

    url: str
    headers: Mapping[str, str]
    expires_at: int


@attrs.frozen
class VerifiedPut:
    """What a valid local upload URL vouches for."""

    upload_id: str
    team: str
    content_type: str
    max_bytes: int
    expires_at: int


@attrs.frozen
class UploadAdmission:
    """A PUT judged from its request line and headers alone: its body may now be read.

    ``admitted_at`` is when the checks passed; the upload is judged as of then, so a URL
    that expires while a large body is still arriving does not fail it half-way.
    """

    ticket: UploadTicket
    content_type: str
    max_bytes: int
    admitted_at: int


@attrs.frozen
class MintResult:
    """The answer to a mint: the ticket plus the signed PUT the client must make."""

    ticket: UploadTicket
    upload: SignedUpload
    rate: RateDecision | None
    replayed: bool = False


@attrs.frozen
class CharacterRef:
    """One consumed upload as the character keeps it.

    ``blob_key`` is the character's own copy of the bytes (no sweep or lifecycle rule
    touches it); ``staged_key`` is where the upload's bytes were when it was consumed.
    """

    upload_id: str
    filename: str
    content_type: str
    size: int
    classification: Classification | None
    staged_key: str
    blob_key: str
    etag: str | None = None


@attrs.frozen
class Character:
    """The resource created by consuming 1-6 uploads atomically; it owns their bytes."""

    id: str
    team: str
    refs: tuple[CharacterRef, ...]
    created_at: int
    state: CharacterState = CharacterState.PROMOTING
    version: int = 0

    @property
    def upload_ids(self) -> tuple[str, ...]:
        """The consumed upload ids, in request order."""
        return tuple(ref.upload_id for ref in self.refs)


@attrs.frozen
class CharacterPage:
    """One page of a team's characters, oldest first; ``next_cursor`` is ``None`` on the last."""

    characters: tuple[Character, ...]
    next_cursor: str | None


@attrs.frozen
class BlobInfo:
    """Metadata of a stored blob (``etag`` where the store keeps one)."""

    size: int
    content_type: str | None
    etag: str | None = None


@attrs.frozen
class RateDecision:
    """The outcome of charging a token bucket.

    ``retry_after_us`` is 0 when allowed; ``reset_after_us`` is the time until the bucket
    is full again.
    """

    allowed: bool
    limit: int
    remaining: int
    retry_after_us: int
    reset_after_us: int


@attrs.frozen
class SweepReport:
    """What one ``sweep`` did: tickets and blobs evicted, characters settled, parts skipped.

    ``characters`` counts characters whose unfinished promotion or deletion the sweep
    completed; ``skipped`` names the parts of the store it could not reach (e.g. a
    Redis Cluster node that is down): the next sweep tries them again.
    """

    tickets: int
    blobs: int
    characters: int = 0
    skipped: tuple[str, ...] = ()
