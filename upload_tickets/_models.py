"""Frozen value objects passed between the service, its rules and its adapters.

Times are integer microseconds since the Unix epoch throughout; conversion to ISO 8601
happens only at the HTTP edge.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping

import attrs

from upload_tickets import _rules
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


def _check_team_id(_: object, __: object, value: str) -> None:
    _rules.validate_team_id(value)


def _optional_positive(_: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise InvalidRequest(f"{attribute.name} must be a positive whole number, got {value!r}", param=attribute.name)


def _team_content_types(value: Collection[str] | None) -> frozenset[str] | None:
    return None if value is None else _rules.validate_team_content_types(value)


@attrs.frozen
class Team:
    """An API client: uploads are owned by, and only visible to, their team.

    ``max_upload_bytes`` and ``content_types`` narrow (or, for the byte cap, replace)
    the service's defaults for this team: ``None`` means the service's policy.
    """

    id: str = attrs.field(validator=_check_team_id)
    pinned_version: str | None = None
    max_upload_bytes: int | None = attrs.field(default=None, validator=_optional_positive, kw_only=True)
    content_types: frozenset[str] | None = attrs.field(default=None, converter=_team_content_types, kw_only=True)


def _check_filename(_: object, __: object, value: str) -> None:
    _rules.validate_filename(value)


def _check_extension(_: object, __: object, value: str) -> None:
    _rules.validate_extension(value)


def _check_content_type(instance: MintRequest, _: object, value: str) -> None:
    # Validators run in field order once every field is set, so extension is already valid.
    _rules.validate_content_type(value, instance.extension)


@attrs.frozen
class MintRequest:
    """What a client asks to upload; it cannot be built invalid (``InvalidRequest`` naming the field).

    The filename is kept in NFC. Validation lives here and not on :class:`UploadTicket`,
    so a rule tightened later never makes stored tickets unreadable.
    """

    filename: str = attrs.field(converter=_rules.normalize_filename, validator=_check_filename)
    extension: str = attrs.field(validator=_check_extension)
    content_type: str = attrs.field(validator=_check_content_type)


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
class ClassifyResult:
    """The answer to a classify: the classified ticket, and the charge it cost (``None`` on a replay)."""

    ticket: UploadTicket
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
class ConsumeResult:
    """The answer to a consume: the new character, and the charge it cost (``None`` on a replay)."""

    character: Character
    rate: RateDecision | None
    replayed: bool = False


@attrs.frozen
class CharacterPage:
    """One page of a team's characters, oldest first; ``next_cursor`` is ``None`` on the last."""

    characters: tuple[Character, ...]
    next_cursor: str | None


@attrs.frozen
class IdempotencyClaim:
    """The first request an ``Idempotency-Key`` came with, and the resource that request makes.

    Claims are kept per team and per ``operation`` (``"classify"``, ``"consume"``); a
    claim at or past ``expires_at`` counts as absent. ``resource_id`` is decided before
    the operation runs and is unique to the request that claimed (the id the new
    character will get; for classify, the upload id with an attempt suffix), so a retry
    after a lost answer finds the very resource the first attempt made.
    """

    operation: str
    key: str
    request_hash: str
    resource_id: str
    expires_at: int


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
    completed; ``claims``, expired idempotency claims deleted; ``skipped`` names the
    parts of the store it could not reach (e.g. a Redis Cluster node that is down): the
    next sweep tries them again.
    """

    tickets: int
    blobs: int
    characters: int = 0
    skipped: tuple[str, ...] = ()
    claims: int = 0


@attrs.frozen
class SweepBeat:
    """The heartbeat of the last finished sweep: who ran it, when, and what it did.

    A store that coordinates sweepers (:class:`~upload_tickets.protocols.SweepLedger`)
    keeps the latest one, so any process can tell whether sweeping runs at all.
    """

    holder: str
    finished_at_us: int
    tickets: int
    blobs: int
    characters: int
