# Generated from the _async folder by scripts/unasync.py: edit that source, then run it.
"""The facade, async source: mint, receive, classify, consume, sweep.

``UploadTickets`` is written here once; ``UploadTickets`` (the sync flavour, in
``upload_tickets/_sync/service.py``) is generated from this file by ``scripts/unasync.py``,
so a change to the logic reaches both. The service owns the decisions (validation,
lifecycle, rate limit, ownership); adapters only store, sign and move bytes. Every
change to tickets goes through :func:`upload_tickets._lifecycle.apply` and is written
with a version check, so racing callers never both win: the loser re-reads and gets
the error the new state calls for.

Cancellation (async flavour): every multi-step change is either one atomic store call
or rolled back in a shielded scope, so a caller cancelled at any leaves no
half-applied change.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

from ulid import ULID

from upload_tickets import _lifecycle, _rules
from upload_tickets._errors import (
    ConfigurationError,
    Conflict,
    IdempotencyConflict,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    TicketExpired,
    UnprocessableImage,
    UnsupportedMediaType,
    UploadChanged,
)
from upload_tickets._facade import (
    MAX_ATTEMPTS,
    bucket,
    character_key,
    hash_request,
    media_type,
    one_clock,
    staged_key,
    url_expiry,
)
from upload_tickets._lifecycle import CharacterEvent, Event
from upload_tickets._models import (
    Character,
    CharacterPage,
    CharacterRef,
    CharacterState,
    Classification,
    ClassifyResult,
    ConsumeResult,
    IdempotencyClaim,
    MintRequest,
    MintResult,
    RateDecision,
    State,
    SweepReport,
    Team,
    UploadAdmission,
    UploadTicket,
)
from upload_tickets._policy import (
    DEFAULT_MAX_UPLOAD_BYTES,
    SPEC_RATES,
    Operation,
    RatePolicy,
    RateTable,
    TTLPolicy,
)
from upload_tickets._sync._primitives import Body, chunks_of, shielded
from upload_tickets._sync.protocols import (
    BatchChargingTicketStore,
    BlobStore,
    ChargingTicketStore,
    Classifier,
    PartialSweepStore,
    RateLimiter,
    TicketStore,
)
from upload_tickets.classify import ImageClassifier
from upload_tickets.protocols import Clock, Signer, VerifyingSigner

T = TypeVar("T")


class UploadTickets:
    """Direct uploads through signed URLs, from mint to atomic consume."""

    def __init__(
        self,
        *,
        store: TicketStore,
        limiter: RateLimiter,
        signer: Signer,
        blobs: BlobStore,
        classifier: Classifier | None = None,
        clock: Clock | None = None,
        ttl: TTLPolicy | None = None,
        rates: RateTable = SPEC_RATES,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        known_versions: frozenset[str] = _rules.KNOWN_API_VERSIONS,
    ) -> None:
        self.store = store
        self.limiter = limiter
        self.signer = signer
        self.blobs = blobs
        self.classifier: Classifier = classifier or ImageClassifier()
        #: One clock for TTLs and, on in-process limiters, for refills too: a limiter or
        #: store built without a clock of its own follows this one.
        self.clock: Clock = one_clock(clock, (limiter, store))
        self.ttl = ttl or TTLPolicy()
        if isinstance(max_upload_bytes, bool) or not isinstance(max_upload_bytes, int) or max_upload_bytes <= 0:
            raise ConfigurationError(f"max_upload_bytes must be a positive whole number, got {max_upload_bytes!r}")
        #: The byte cap of an upload, unless its team has its own (``Team.max_upload_bytes``).
        self.max_upload_bytes = max_upload_bytes
        #: Which bucket each operation charges.
        self.rates = rates
        self.known_versions = known_versions
        # Steps over components that never wait (in-process ones) cannot be cut by a
        # cancellation; only others pay for a shield.
        self._shield_steps = not all(getattr(part, "never_waits", False) for part in (store, limiter, blobs))
        # One object that is both store and limiter can charge and insert atomically,
        # which networked backends turn into a single round trip per mint.
        self._charging_store = (
            store if isinstance(store, ChargingTicketStore) and (limiter is cast(object, store)) else None
        )

    def mint(
        self,
        team: Team,
        request: MintRequest,
        *,
        api_version: str | None = None,
        idempotency_key: str | None = None,
    ) -> MintResult:
        """Charge the team's bucket, create a ticket and sign its PUT URL.

        With an ``idempotency_key`` the same key and body return the same ticket (no new
        charge); the same key with a different body is an ``IdempotencyConflict``.
        Everything that needs no I/O is checked first, so a refused request costs nothing.
        """
        version = _rules.resolve_api_version(api_version, team, self.known_versions)
        self._check_team_allows(team, request)
        request_hash = None
        if (key := _rules.parse_idempotency_key(idempotency_key)) is not None:
            request_hash = hash_request(request.filename, request.extension, request.content_type, version)
            existing = self.store.find_by_idempotency_key(team.id, key)
            if existing is not None:
                return self._replay(existing, request_hash)
        ticket = self._new_ticket(team, request, version, idempotency_key, request_hash)
        return self._minted(ticket, *self._charge_and_create(ticket, team))

    def mint_many(
        self, team: Team, requests: Sequence[MintRequest], *, api_version: str | None = None
    ) -> list[MintResult | RateLimited]:
        """Mint several tickets for one team: one round trip on stores that pipeline.

        Each mint is charged and created atomically on its own; the answer holds, in
        order, a result or the ``RateLimited`` error for each request.
        """
        version = _rules.resolve_api_version(api_version, team, self.known_versions)
        for request in requests:
            self._check_team_allows(team, request)
        tickets = [self._new_ticket(team, request, version, None, None) for request in requests]
        policy = self.rates.policy(Operation.MINT)
        outcomes: list[tuple[RateDecision | None, UploadTicket | None]]
        if policy is not None and self._charging_store is not None and isinstance(self.store, BatchChargingTicketStore):
            outcomes = list(self.store.create_many_if_allowed(tickets, bucket(policy, team), policy))
        else:
            outcomes = [self._charge_and_create(ticket, team) for ticket in tickets]
        results: list[MintResult | RateLimited] = []
        for ticket, (decision, stored) in zip(tickets, outcomes, strict=True):
            try:
                results.append(self._minted(ticket, decision, stored))
            except RateLimited as refused:
                results.append(refused)
        return results

    def _check_team_allows(self, team: Team, request: MintRequest) -> None:
        if team.content_types is not None and request.content_type not in team.content_types:
            raise InvalidRequest(
                f"this team may upload {sorted(team.content_types)}, not {request.content_type}",
                code="content_type_not_allowed",
                param="content_type",
            )

    def _charge_and_create(self, ticket: UploadTicket, team: Team) -> tuple[RateDecision | None, UploadTicket | None]:
        policy = self.rates.policy(Operation.MINT)
        if policy is None:
            return None, self.store.create(ticket)
        if self._charging_store is not None:
            return self._charging_store.create_if_allowed(ticket, bucket(policy, team), policy)
        # A separate store and limiter take two steps: shielded, so a cancelled caller
        # never leaves a ticket uncharged or a charge without its ticket.
        return self._uninterrupted(self._charge_then_create, ticket, bucket(policy, team), policy)

    def _uninterrupted(self, step: Callable[..., T], *args: object) -> T:
        """``step(*args)``, which a cancelled caller cannot stop halfway (see ``shielded``)."""
        if self._shield_steps:
            return shielded(step, *args)
        return step(*args)

    def _charge_then_create(
        self, ticket: UploadTicket, bucket_key: str, policy: RatePolicy
    ) -> tuple[RateDecision | None, UploadTicket | None]:
        if ticket.idempotency_key is not None:
            # Create first, so a racing replay finds the ticket and is never charged; a
            # refused charge takes the ticket back.
            stored = self.store.create(ticket)
            if stored.id != ticket.id:
                return None, stored
            decision = self.limiter.acquire(bucket_key, policy)
            if not decision.allowed:
                self.store.delete([stored])
                return decision, None
            return decision, stored
        decision = self.limiter.acquire(bucket_key, policy)
        return decision, self.store.create(ticket) if decision.allowed else None

    def _new_ticket(
        self, team: Team, request: MintRequest, version: str, idempotency_key: str | None, request_hash: str | None
    ) -> UploadTicket:
        now = self.clock.now_us()
        ticket_id = f"upl_{ULID.from_timestamp(now // 1000)}"
        return UploadTicket(
            id=ticket_id,
            team=team.id,
            filename=request.filename,
            extension=request.extension,
            content_type=request.content_type,
            api_version=version,
            created_at=now,
            url_expires_at=url_expiry(now, self.ttl),
            expires_at=now + self.ttl.ticket_ttl_us,
            max_bytes=team.max_upload_bytes or self.max_upload_bytes,
            blob_key=staged_key(team.id, ticket_id),
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )

    def _minted(self, ticket: UploadTicket, decision: RateDecision | None, stored: UploadTicket | None) -> MintResult:
        if stored is None:
            assert decision is not None  # only a charge refuses a create
            raise self._refusal(Operation.MINT, decision)
        if stored.id != ticket.id:
            # Lost a race with an identical idempotency key: answer as the winner did.
            return self._replay(stored, ticket.request_hash)
        return MintResult(ticket=stored, upload=self.signer.sign_put(stored), rate=decision)

    def _charge(self, team: Team, operation: Operation) -> RateDecision | None:
        """Take the token ``operation`` costs from the team's bucket, or raise ``RateLimited``."""
        policy = self.rates.policy(operation)
        if policy is None:
            return None
        decision = self.limiter.acquire(bucket(policy, team), policy)
        if not decision.allowed:
            raise self._refusal(operation, decision)
        return decision

    def _refusal(self, operation: Operation, decision: RateDecision) -> RateLimited:
        policy = self.rates.policy(operation)
        assert policy is not None
        return RateLimited(f"rate limit {policy.name!r} exceeded for this team", decision=decision, policy=policy)

    def _replay(self, existing: UploadTicket, request_hash: str | None) -> MintResult:
        if existing.request_hash != request_hash:
            raise IdempotencyConflict("this Idempotency-Key was used with a different request", param="Idempotency-Key")
        return MintResult(ticket=existing, upload=self.signer.sign_put(existing), rate=None, replayed=True)

    def _claim(
        self, team: Team, operation: Operation, key: str, request_hash: str, resource_id: str
    ) -> IdempotencyClaim:
        """Claim ``key`` for this request, or get an earlier request's claim (``IdempotencyConflict`` if it differs)."""
        now = self.clock.now_us()
        claim = IdempotencyClaim(operation.value, key, request_hash, resource_id, now + self.ttl.ticket_ttl_us)
        held = self.store.claim_idempotency_key(team.id, claim, now)
        if held.request_hash != request_hash:
            raise IdempotencyConflict("this Idempotency-Key was used with a different request", param="Idempotency-Key")
        return held

    def _charge_claimed(self, team: Team, operation: Operation, claim: IdempotencyClaim | None) -> RateDecision | None:
        """Charge for a request that holds ``claim``; a refused charge gives the key back, so a retry is new.

        Only a refusal gives it back: a charge that failed in transit may have been taken,
        and the retry of the same request must not pay twice.
        """
        try:
            return self._charge(team, operation)
        except RateLimited:
            if claim is not None:
                self.store.release_idempotency_key(team.id, claim)
            raise

    def receive(
        self,
        upload_id: str,
        query: str,
        *,
        content_type: str | None,
        content_length: int | None,
        body: Body,
    ) -> UploadTicket:
        """Accept a PUT to our own upload host: :meth:`admit_upload`, then :meth:`store_upload`.

        ``body`` is the whole body as ``bytes`` or its chunks as they arrive.
        """
        admission = self.admit_upload(upload_id, query, content_type=content_type, content_length=content_length)
        return self.store_upload(admission, body)

    def admit_upload(
        self, upload_id: str, query: str, *, content_type: str | None, content_length: int | None
    ) -> UploadAdmission:
        """Judge a PUT before reading a byte of its body: signature, expiry, state, type and length.

        A PUT without Content-Type is taken as the signed type; a different type is refused.
        """
        if not isinstance(self.signer, VerifyingSigner):
            raise NotFound("this deployment has no upload host: uploads go to object storage", code="route_not_found")
        if not _rules.UPLOAD_ID_RE.match(upload_id):
            raise NotFound("no such upload")
        now = self.clock.now_us()
        verified = self.signer.verify_put(upload_id, query, now)
        if content_type is not None and media_type(content_type) != verified.content_type:
            raise UnsupportedMediaType(f"this URL takes Content-Type {verified.content_type}", param="Content-Type")
        if content_length is not None and content_length > verified.max_bytes:
            raise PayloadTooLarge(f"upload exceeds {verified.max_bytes} bytes", param="Content-Length")
        ticket = self._load(verified.team, upload_id)
        _lifecycle.check(ticket, Event.UPLOAD, now)
        max_bytes = min(verified.max_bytes, ticket.max_bytes)
        if content_length is not None and content_length > max_bytes:
            raise PayloadTooLarge(f"upload exceeds {max_bytes} bytes", param="Content-Length")
        return UploadAdmission(ticket=ticket, content_type=verified.content_type, max_bytes=max_bytes, admitted_at=now)

    def store_upload(self, admission: UploadAdmission, body: Body) -> UploadTicket:
        """Stream an admitted PUT's body to the blob store and mark the ticket uploaded."""
        ticket, now = admission.ticket, admission.admitted_at
        # Each PUT gets a fresh key: a consumed ticket keeps the exact bytes it was
        # consumed with even if a late PUT races the consume.
        key = f"{staged_key(ticket.team, ticket.id)}.{secrets.token_hex(6)}"
        try:
            size = self.blobs.put(
                key, chunks_of(body), max_bytes=admission.max_bytes, content_type=admission.content_type
            )
        except BaseException:
            # Cancelled mid-body or refused: the fresh key is ours alone, so it goes.
            self._uninterrupted(self.blobs.delete, key)
            raise
        # From here the outcome of the write decides the cleanup: it runs to its end.
        return self._uninterrupted(self._record_upload, ticket, now, key, size)

    def _record_upload(self, ticket: UploadTicket, now: int, key: str, size: int) -> UploadTicket:
        try:
            for _ in range(MAX_ATTEMPTS):
                updated = _lifecycle.apply(ticket, Event.UPLOAD, now, size=size, uploaded_at=now, blob_key=key)
                if self.store.replace([updated]):
                    break
                ticket = self._load(ticket.team, ticket.id)
            else:
                raise Conflict("the upload is being changed concurrently; retry", code="contention")
        except BaseException:
            self.blobs.delete(key)
            raise
        if ticket.state is not State.MINTED:
            self.blobs.delete(ticket.blob_key)
        return updated

    def get(self, team: Team, upload_id: str, *, param: str = "upload_id") -> UploadTicket:
        """The team's ticket; another team's id is ``NotFound`` like an unknown one."""
        ticket = self.store.get(team.id, _rules.parse_upload_id(upload_id, param))
        if ticket is None or ticket.team != team.id:
            raise NotFound(f"no upload {upload_id} for this team", param=param)
        return ticket

    def classify(self, team: Team, upload_id: str, *, idempotency_key: str | None = None) -> ClassifyResult:
        """Check the uploaded bytes are the declared image type; record type, size and pose.

        Costs the ``classify`` token (once the request is well formed). With an
        ``idempotency_key``, a retry of the same request is not charged again and answers
        from the recorded classification; the key with another upload id is an
        ``IdempotencyConflict``.
        """
        _rules.parse_upload_id(upload_id)
        claim = None
        if (key := _rules.parse_idempotency_key(idempotency_key)) is not None:
            # The attempt suffix tells this request's claim from an earlier one on the same upload.
            attempt = f"{upload_id}/{secrets.token_hex(8)}"
            request_hash = hash_request("classify", upload_id)
            claim = self._claim(team, Operation.CLASSIFY, key, request_hash, attempt)
            if claim.resource_id != attempt:
                ticket = self.get(team, upload_id)
                if ticket.classification is not None:
                    return ClassifyResult(ticket=ticket, rate=None, replayed=True)
                return ClassifyResult(ticket=self._classify(team, upload_id), rate=None, replayed=True)
        decision = self._charge_claimed(team, Operation.CLASSIFY, claim)
        return ClassifyResult(ticket=self._classify(team, upload_id), rate=decision)

    def _classify(self, team: Team, upload_id: str) -> UploadTicket:
        for _ in range(MAX_ATTEMPTS):
            now = self.clock.now_us()
            ticket = self._confirm(self.get(team, upload_id), now, param="upload_id", recheck=True)
            _lifecycle.check(ticket, Event.CLASSIFY, now, "upload_id")
            classification = self._inspect(ticket, "upload_id")
            updated = _lifecycle.apply(ticket, Event.CLASSIFY, now, classification=classification)
            if self.store.replace([updated]):
                return updated
        raise Conflict("the upload is being changed concurrently; retry", code="contention")

    def _inspect(self, ticket: UploadTicket, param: str) -> Classification:
        """Run the classifier over exactly the bytes the ticket vouches for (its ETag, where kept)."""
        try:
            with self.blobs.open(ticket.blob_key, etag=ticket.etag) as stream:
                return self.classifier.classify(stream, ticket.content_type)
        except UnprocessableImage as refused:
            raise UnprocessableImage(f"{ticket.id}: {refused.message}", code=refused.code, param=param) from refused
        except UploadChanged as changed:
            raise UploadChanged(f"{ticket.id}: {changed.message}", param=param) from changed
        except NotFound:
            raise UploadChanged(f"the bytes of {ticket.id} are gone from storage; upload again", param=param) from None

    def consume(self, team: Team, upload_ids: Sequence[str], *, idempotency_key: str | None = None) -> ConsumeResult:
        """Consume 1-6 of the team's uploaded tickets into a new character: all or none.

        Each upload's bytes must be a complete image of its declared type: checked now,
        unless classify already checked these exact bytes. The tickets' move to
        ``consumed`` and the character record are one atomic step; from then on the
        character owns the bytes: they are copied to its own keys
        (:meth:`BlobStore.promote`), out of reach of the sweep and of any lifecycle rule
        on staged uploads. A copy that cannot finish now is finished by the sweep.

        Costs the ``consume`` token. With an ``idempotency_key``, a retry of the same
        request (say, after a lost answer) gets the character the first attempt made,
        uncharged; the key with other upload ids is an ``IdempotencyConflict``.
        """
        ids = _rules.parse_upload_ids(upload_ids)
        character_id = f"chr_{ULID.from_timestamp(self.clock.now_us() // 1000)}"
        claim = None
        if (key := _rules.parse_idempotency_key(idempotency_key)) is not None:
            claim = self._claim(team, Operation.CONSUME, key, hash_request("consume", *ids), character_id)
            if claim.resource_id != character_id:
                # A retry: finish (or report) the character the first attempt committed to.
                made = self.store.get_character(team.id, claim.resource_id)
                if made is not None and made.state is not CharacterState.DELETING:
                    return ConsumeResult(character=self._promote(made), rate=None, replayed=True)
                return ConsumeResult(character=self._consume(team, ids, claim.resource_id), rate=None, replayed=True)
        decision = self._charge_claimed(team, Operation.CONSUME, claim)
        return ConsumeResult(character=self._consume(team, ids, character_id), rate=decision)

    def _consume(self, team: Team, ids: tuple[str, ...], character_id: str) -> Character:
        seen: dict[str, UploadTicket] = {}
        verified: dict[tuple[str, str | None], Classification] = {}
        vanished: set[str] = set()
        for _ in range(MAX_ATTEMPTS):
            now = self.clock.now_us()
            tickets = self.store.get_many(team.id, ids)
            if any(t is not None and t.character_id == character_id for t in tickets):
                # Our own write landed though the store could not confirm it (a dropped
                # connection after commit): report the success it was.
                committed = self.store.get_character(team.id, character_id)
                if committed is not None:
                    return self._promote(committed)
            updated = []
            refs = []
            for index, (upload_id, ticket) in enumerate(zip(ids, tickets, strict=True)):
                param = f"upload_ids[{index}]"
                if ticket is None or ticket.team != team.id:
                    earlier = seen.get(upload_id)
                    if earlier is not None and earlier.is_expired(now):
                        # Swept between our reads: it expired, it was not "never there".
                        raise TicketExpired(f"upload {upload_id} has expired", param=param)
                    raise NotFound(f"no upload {upload_id} for this team", param=param)
                seen[upload_id] = ticket
                ticket = self._confirm(ticket, now, param=param, recheck=False)
                consumed = _lifecycle.apply(ticket, Event.CONSUME, now, param=param, character_id=character_id)
                # Classify records a classification for exactly these bytes (new bytes drop
                # it), so it stands as the check; otherwise the bytes are checked here.
                classification = ticket.classification
                if classification is None:
                    checked = (ticket.blob_key, ticket.etag)
                    if checked not in verified:
                        try:
                            verified[checked] = self._inspect(ticket, param)
                        except UploadChanged:
                            # A racing consume may have won and moved the bytes: re-read
                            # once, and answer as the ticket's new state calls for.
                            if ticket.id in vanished:
                                raise
                            vanished.add(ticket.id)
                            break
                    classification = verified[checked]
                updated.append(consumed)
                refs.append(
                    CharacterRef(
                        upload_id=ticket.id,
                        filename=ticket.filename,
                        content_type=ticket.content_type,
                        size=ticket.size or 0,
                        classification=classification,
                        staged_key=ticket.blob_key,
                        blob_key=character_key(team.id, character_id, index),
                        etag=ticket.etag,
                    )
                )
            else:
                character = Character(id=character_id, team=team.id, refs=tuple(refs), created_at=now)
                if self.store.consume(updated, character):
                    return self._promote(character)
        raise Conflict("the uploads are being changed concurrently; retry", code="contention")

    def _promote(self, character: Character) -> Character:
        """Copy a ``promoting`` character's bytes to its own keys, drop the staged bytes, mark it ready.

        Each step can be repeated: ``promote`` is a no-op once the copy exists (even with
        the staged bytes gone), so the sweep rolls forward whatever a crash interrupted,
        and no staged bytes outlive a character that reached ``ready``.
        """
        if character.state is not CharacterState.PROMOTING:
            return character
        for ref in character.refs:
            self.blobs.promote(ref.staged_key, ref.blob_key, etag=ref.etag)
        # Only once every copy is durable do the staged bytes go.
        for ref in character.refs:
            self.blobs.delete(ref.staged_key)
        ready = _lifecycle.apply_character(character, CharacterEvent.PROMOTED)
        if not self.store.replace_character(ready):
            # Someone else (the sweep, a retry) finished it first.
            return self.store.get_character(character.team, character.id) or ready
        return ready

    def get_character(self, team: Team, character_id: str) -> Character:
        """The team's character; another team's id is ``NotFound`` like an unknown one."""
        character = self.store.get_character(team.id, _rules.parse_character_id(character_id))
        if character is None or character.team != team.id or character.state is CharacterState.DELETING:
            raise NotFound(f"no character {character_id} for this team", code="character_not_found", param="id")
        return character

    def list_characters(self, team: Team, *, cursor: str | None = None, limit: int = 50) -> CharacterPage:
        """A page of the team's characters, oldest first; pass ``next_cursor`` back for the next."""
        if not 1 <= limit <= 100:
            raise InvalidRequest("limit must be between 1 and 100", param="limit")
        if cursor is not None:
            _rules.parse_character_id(cursor, param="cursor")
        found = self.store.list_characters(team.id, cursor, limit + 1)
        visible = [c for c in found[:limit] if c.state is not CharacterState.DELETING]
        next_cursor = found[limit - 1].id if len(found) > limit else None
        return CharacterPage(characters=tuple(visible), next_cursor=next_cursor)

    def delete_character(self, team: Team, character_id: str) -> None:
        """Delete the character and its bytes: marked ``deleting``, then bytes, then record (crash-safe)."""
        for _ in range(MAX_ATTEMPTS):
            character = self._promote(self.get_character(team, character_id))
            deleting = _lifecycle.apply_character(character, CharacterEvent.DELETE)
            if self.store.replace_character(deleting):
                self._finish_delete(deleting)
                return
        raise Conflict("the character is being changed concurrently; retry", code="contention")

    def _finish_delete(self, character: Character) -> None:
        for ref in character.refs:
            self.blobs.delete(ref.blob_key)
            self.blobs.delete(ref.staged_key)
        self.store.delete_character(character)

    def sweep(self, *, limit: int = 1000) -> SweepReport:
        """Finish unsettled characters, evict up to ``limit`` expired tickets and their bytes, purge old claims.

        An unconsumed expired ticket is first claimed (``evicting``, version-checked), so a
        consume racing the sweep either wins with its bytes intact or loses with 410;
        only then are its bytes deleted, and last its record, so a crash at any point
        leaves a claim the next sweep completes. A consumed ticket's record goes without
        its bytes: they are the character's.
        """
        characters = 0
        stuck: list[str] = []
        for character in self.store.unsettled_characters(limit):
            try:
                if character.state is CharacterState.PROMOTING:
                    self._promote(character)
                elif character.state is CharacterState.DELETING:
                    self._finish_delete(character)
                else:
                    continue  # settled since the store listed it
            except UploadChanged:
                # Object storage bytes replaced between the consume's check and its copy:
                # the checked bytes are gone, so this character cannot complete. It is
                # reported every sweep and never blocks eviction.
                stuck.append(f"character {character.id}: its upload's bytes were replaced before the copy")
                continue
            characters += 1
        now = self.clock.now_us()
        skipped: tuple[str, ...] = ()
        if isinstance(self.store, PartialSweepStore):
            expired, skipped = self.store.expired_reachable(now, limit)
        else:
            expired = self.store.expired(now, limit)
        skipped += tuple(stuck)
        tickets = blobs = 0
        for ticket in expired:
            if ticket.state is State.CONSUMED:
                tickets += self.store.delete([ticket])
                continue
            if ticket.state is not State.EVICTING:
                claimed = _lifecycle.apply(ticket, Event.EVICT, now)
                if not self.store.replace([claimed]):
                    continue  # it moved on (a consume won); the next sweep looks again
                ticket = claimed
            blobs += self.blobs.delete(ticket.blob_key)
            tickets += self.store.delete([ticket])
        claims = self.store.purge_idempotency_claims(now, limit)
        return SweepReport(tickets=tickets, blobs=blobs, characters=characters, skipped=skipped, claims=claims)

    def _load(self, team_id: str, upload_id: str) -> UploadTicket:
        ticket = self.store.get(team_id, upload_id)
        if ticket is None:
            raise NotFound("no such upload")
        return ticket

    def _confirm(self, ticket: UploadTicket, now: int, *, param: str, recheck: bool) -> UploadTicket:
        """Record bytes PUT straight to object storage (no upload host saw them).

        A ticket confirmed before carries the object's ETag; if the object changed since
        (the presigned URL lets the client PUT again), ``recheck`` confirms the new bytes
        (classify then judges them), otherwise the change is refused with ``UploadChanged``.
        """
        if ticket.is_expired(now) or ticket.state is State.CONSUMED:
            return ticket
        confirmed_before = ticket.state is not State.MINTED
        if confirmed_before and ticket.etag is None:
            return ticket  # bytes from our own upload host: immutable under their key
        info = self.blobs.head(ticket.blob_key)
        if info is None:
            if not confirmed_before:
                return ticket
            raise UploadChanged(f"the bytes of {ticket.id} are gone from storage; upload again", param=param)
        if confirmed_before:
            if info.etag == ticket.etag:
                return ticket
            if not recheck:
                raise UploadChanged(
                    f"the bytes of {ticket.id} changed after they were checked; classify again", param=param
                )
        if info.size > ticket.max_bytes:
            raise PayloadTooLarge(f"the stored upload exceeds {ticket.max_bytes} bytes", param=param)
        if info.content_type is not None and media_type(info.content_type) != ticket.content_type:
            raise UnsupportedMediaType(f"the stored upload is not {ticket.content_type}", param=param)
        confirmed = _lifecycle.apply(ticket, Event.CONFIRM, now, size=info.size, uploaded_at=now, etag=info.etag)
        if self.store.replace([confirmed]):
            return confirmed
        return self._load(ticket.team, ticket.id)


__all__ = ["UploadTickets"]
