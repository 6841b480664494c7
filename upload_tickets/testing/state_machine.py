"""A Hypothesis state machine that drives a whole :class:`UploadTickets` service.

It mints, uploads (good, mistyped, garbage and oversize bytes), re-uploads, classifies,
consumes (across teams, with duplicates, with expired and consumed tickets), deletes
characters, moves a manual clock and sweeps, and after every step checks the stores
against a plain model, byte ownership included: a character's bytes stay readable
through every sweep and clock jump, an evicted ticket's bytes are gone.
Any backend runs it by handing :func:`service_state_machine` a factory:

    TestRedisMachine = service_state_machine(lambda clock: UploadTickets(store=..., clock=clock, ...)).TestCase
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

import attrs
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from upload_tickets import _errors as errors
from upload_tickets._models import CharacterState, MintRequest, State, Team
from upload_tickets._policy import SECOND_US, Operation
from upload_tickets._ratelimit import gcra
from upload_tickets.clock import ManualClock
from upload_tickets.service import UploadTickets
from upload_tickets.testing._fixtures import START_US, image_bytes

_KINDS = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_OTHER_TYPE = {"image/jpeg": "image/png", "image/png": "image/webp", "image/webp": "image/jpeg"}


@attrs.define
class _Ticket:
    id: str
    team: str
    content_type: str
    url: str
    url_expires_at: int
    expires_at: int
    max_bytes: int
    state: State = State.MINTED
    payload: bytes | None = None
    classified: bool = False
    blob_key: str | None = None

    def payload_is_valid(self) -> bool:
        return self.payload == image_bytes(self.content_type)


ServiceFactory = Callable[[ManualClock], UploadTickets]
_T = TypeVar("_T")


def service_state_machine(
    make_service: ServiceFactory, *, exact_rate_limit: bool = True
) -> type[RuleBasedStateMachine]:
    """Build a state machine class for the services ``make_service(clock)`` returns.

    Set ``exact_rate_limit=False`` when the limiter keeps its own time (Redis ``TIME``,
    a database clock): rate-limit refusals are then allowed but not predicted.
    """

    class UploadTicketsMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.clock = ManualClock(START_US)
            self.service = make_service(self.clock)
            run = uuid.uuid4().hex[:12]
            self.teams = [Team(f"team-{run}-a"), Team(f"team-{run}-b")]
            self.tickets: list[_Ticket] = []
            self.swept: set[str] = set()
            self.tats: dict[str, int | None] = {}
            # character id -> (team, the consumed tickets' payloads in order)
            self.characters: dict[str, tuple[str, list[bytes]]] = {}
            self.deleted_characters: dict[str, tuple[str, list[str]]] = {}

        def _now(self) -> int:
            return self.clock.now_us()

        def _live(self) -> list[_Ticket]:
            return [t for t in self.tickets if t.id not in self.swept]

        def _pick(self, index: int) -> _Ticket:
            return self.tickets[index % len(self.tickets)]

        @rule(team_index=st.integers(0, 1), extension=st.sampled_from(sorted(_KINDS)))
        def mint(self, team_index: int, extension: str) -> None:
            team = self.teams[team_index]
            content_type = _KINDS[extension]
            request = MintRequest(filename=f"ref.{extension}", extension=extension, content_type=content_type)
            refused = self._charge(team, Operation.MINT)
            try:
                result = self.service.mint(team, request)
            except errors.RateLimited:
                assert refused in (True, None)
                return
            assert refused in (False, None)
            ticket = result.ticket
            assert ticket.state is State.MINTED
            assert ticket.team == team.id
            assert result.upload.headers == {"Content-Type": content_type}
            self.tickets.append(
                _Ticket(
                    id=ticket.id,
                    team=team.id,
                    content_type=content_type,
                    url=result.upload.url,
                    url_expires_at=ticket.url_expires_at,
                    expires_at=ticket.expires_at,
                    max_bytes=ticket.max_bytes,
                )
            )

        @precondition(lambda self: self.tickets)
        @rule(
            index=st.integers(0, 10_000),
            payload=st.sampled_from(["valid", "other_type", "garbage", "oversize"]),
            send_content_type=st.booleans(),
        )
        def upload(self, index: int, payload: str, send_content_type: bool) -> None:
            ticket = self._pick(index)
            data = {
                "valid": image_bytes(ticket.content_type),
                "other_type": image_bytes(_OTHER_TYPE[ticket.content_type]),
                "garbage": b"not an image at all",
                "oversize": b"\0" * (ticket.max_bytes + 1),
            }[payload]
            expected: type[errors.UploadTicketsError] | None = None
            if self._now() >= ticket.url_expires_at:
                expected = errors.UploadUrlExpired
            elif ticket.state is State.CONSUMED:
                expected = errors.AlreadyConsumed
            elif payload == "oversize":
                expected = errors.PayloadTooLarge
            url = urlsplit(ticket.url)
            stored = self._expect(
                "upload",
                expected,
                lambda: self.service.receive(
                    ticket.id,
                    url.query,
                    content_type=ticket.content_type if send_content_type else None,
                    content_length=None,
                    body=[data[: len(data) // 2], data[len(data) // 2 :]],
                ),
            )
            if expected is None:
                assert stored is not None
                ticket.state, ticket.payload, ticket.classified = State.UPLOADED, data, False
                ticket.blob_key = stored.blob_key

        @precondition(lambda self: self.tickets)
        @rule(index=st.integers(0, 10_000))
        def upload_with_another_content_type(self, index: int) -> None:
            ticket = self._pick(index)
            expected: type[errors.UploadTicketsError] = errors.UnsupportedMediaType
            if self._now() >= ticket.url_expires_at:
                expected = errors.UploadUrlExpired
            query = urlsplit(ticket.url).query
            self._expect(
                "upload with another type",
                expected,
                lambda: self.service.receive(
                    ticket.id, query, content_type=_OTHER_TYPE[ticket.content_type], content_length=None, body=[b"x"]
                ),
            )

        def _charge(self, team: Team, operation: Operation) -> bool | None:
            """Charge the model's bucket as the service will: refused or not, ``None`` if unpredictable."""
            policy = self.service.rates.policy(operation)
            if policy is None:
                return False
            if not exact_rate_limit:
                return None
            new_tat, decision = gcra(self.tats.get(policy.name + team.id), self._now(), policy)
            if new_tat is not None:
                self.tats[policy.name + team.id] = new_tat
            return not decision.allowed

        def _lifecycle_error(self, ticket: _Ticket) -> type[errors.UploadTicketsError] | None:
            if self._now() >= ticket.expires_at:
                return errors.TicketExpired
            if ticket.state is State.MINTED:
                return errors.NotUploaded
            if ticket.state is State.CONSUMED:
                return errors.AlreadyConsumed
            return None

        def _team_of(self, ticket: _Ticket, as_other_team: bool) -> Team:
            owner = 0 if ticket.team == self.teams[0].id else 1
            return self.teams[1 - owner if as_other_team else owner]

        @precondition(lambda self: self.tickets)
        @rule(index=st.integers(0, 10_000), as_other_team=st.sampled_from([False, False, False, True]))
        def classify(self, index: int, as_other_team: bool) -> None:
            ticket = self._pick(index)
            team = self._team_of(ticket, as_other_team)
            refused = self._charge(team, Operation.CLASSIFY)
            expected: type[errors.UploadTicketsError] | None
            if refused:
                expected = errors.RateLimited
            elif as_other_team or ticket.id in self.swept:
                expected = errors.NotFound
            else:
                expected = self._lifecycle_error(ticket)
                if expected is None and not ticket.payload_is_valid():
                    expected = errors.UnprocessableImage
            result = self._expect(
                "classify", expected, lambda: self.service.classify(team, ticket.id).ticket, refused is None
            )
            if expected is None:
                assert result is not None
                assert result.classification is not None
                assert result.classification.detected_type == ticket.content_type
                assert (result.classification.width, result.classification.height) == (8, 6)
                ticket.state, ticket.classified = State.CLASSIFIED, True

        @precondition(lambda self: self.tickets)
        @rule(
            indices=st.lists(st.integers(0, 10_000), min_size=1, max_size=7),
            repeat_one=st.sampled_from([False, False, False, True]),
            as_other_team=st.sampled_from([False, False, False, True]),
        )
        def consume(self, indices: list[int], repeat_one: bool, as_other_team: bool) -> None:
            # Mostly distinct tickets (the interesting case); sometimes a repeated id.
            chosen = list({id(t): t for t in (self._pick(i) for i in indices)}.values())
            if repeat_one:
                chosen.append(chosen[0])
            team = self._team_of(chosen[0], as_other_team)
            expected: type[errors.UploadTicketsError] | None = None
            refused: bool | None = False
            if len(chosen) > 6 or len({t.id for t in chosen}) != len(chosen):
                expected = errors.InvalidRequest  # refused before any I/O: no token spent
            elif refused := self._charge(team, Operation.CONSUME):
                expected = errors.RateLimited
            else:
                for ticket in chosen:
                    if ticket.team != team.id or ticket.id in self.swept:
                        expected = errors.NotFound
                    else:
                        expected = self._lifecycle_error(ticket)
                    if expected is None and not ticket.classified and not ticket.payload_is_valid():
                        # Consume checks bytes classify never saw.
                        expected = errors.UnprocessableImage
                    if expected is not None:
                        break
            character = self._expect(
                "consume",
                expected,
                lambda: self.service.consume(team, [t.id for t in chosen]).character,
                refused is None,
            )
            if expected is None:
                assert character is not None
                assert character.upload_ids == tuple(t.id for t in chosen)
                assert character.state is CharacterState.READY
                for ticket in chosen:
                    ticket.state = State.CONSUMED
                    assert ticket.payload is not None
                self.characters[character.id] = (team.id, [t.payload or b"" for t in chosen])

        @precondition(lambda self: self.characters)
        @rule(index=st.integers(0, 10_000), as_other_team=st.sampled_from([False, False, True]))
        def delete_character(self, index: int, as_other_team: bool) -> None:
            character_id = sorted(self.characters)[index % len(self.characters)]
            owner = self.characters[character_id][0]
            team = self.teams[1] if (owner == self.teams[0].id) == as_other_team else self.teams[0]
            expected = errors.NotFound if as_other_team else None
            keys = [ref.blob_key for ref in self.service.get_character(Team(owner), character_id).refs]
            self._expect("delete character", expected, lambda: self.service.delete_character(team, character_id))
            if expected is None:
                self.deleted_characters[character_id] = (owner, keys)
                del self.characters[character_id]

        @rule(
            step=st.sampled_from(
                [
                    1 * SECOND_US,
                    2 * SECOND_US,
                    61 * SECOND_US,
                    16 * 60 * SECOND_US,
                    12 * 3600 * SECOND_US,
                    25 * 3600 * SECOND_US,
                ]
            )
        )
        def advance(self, step: int) -> None:
            self.clock.advance(step)

        @rule()
        def sweep(self) -> None:
            now = self._now()
            due = [t for t in self._live() if now >= t.expires_at]
            report = self.service.sweep()
            assert report.tickets == len(due)
            # Only unconsumed tickets lose their bytes: a consumed one's are the character's.
            assert report.blobs == sum(1 for t in due if t.payload is not None and t.state is not State.CONSUMED)
            assert report.characters == 0  # every consume and delete here finished in place
            self.swept.update(t.id for t in due)

        def _expect(
            self,
            action: str,
            expected: type[errors.UploadTicketsError] | None,
            call: Callable[[], _T],
            may_be_rate_limited: bool = False,
        ) -> _T | None:
            # Hypothesis statistics then show which outcomes the run reached.
            event(f"{action}: {expected.__name__ if expected else 'ok'}")
            try:
                result = call()
            except errors.UploadTicketsError as error:
                if may_be_rate_limited and type(error) is errors.RateLimited:
                    return None
                assert expected is not None and type(error) is expected, f"expected {expected}, got {error!r}"
                assert error.code
                assert 400 <= error.http_status < 500
                return None
            assert expected is None, f"expected {expected.__name__}, but the call succeeded"
            return result

        @invariant()
        def stores_match_the_model(self) -> None:
            live = self._live()
            stored = [self.service.store.get(t.team, t.id) for t in live]
            for ticket, actual in zip(live, stored, strict=True):
                assert actual is not None, f"{ticket.id} vanished"
                assert actual.state is ticket.state, (ticket.id, actual.state, ticket.state)
                assert (actual.classification is not None) == ticket.classified
                if ticket.payload is not None and ticket.state is not State.CONSUMED:
                    info = self.service.blobs.head(actual.blob_key)
                    assert info is not None
                    assert info.size == len(ticket.payload)
            for ticket in self.tickets:
                if ticket.id in self.swept:
                    assert self.service.store.get(ticket.team, ticket.id) is None
                    if ticket.state is not State.CONSUMED and ticket.blob_key is not None:
                        assert self.service.blobs.head(ticket.blob_key) is None, f"{ticket.id} kept evicted bytes"
                if ticket.state is State.CONSUMED and ticket.blob_key is not None:
                    # Promoted: the staged bytes went once the character's copy was durable.
                    assert self.service.blobs.head(ticket.blob_key) is None

        @invariant()
        def characters_own_their_bytes(self) -> None:
            for character_id, (team, payloads) in self.characters.items():
                character = self.service.get_character(Team(team), character_id)
                assert character.state is CharacterState.READY
                for ref, payload in zip(character.refs, payloads, strict=True):
                    with self.service.blobs.open(ref.blob_key) as stream:
                        assert stream.read() == payload, f"{character_id} lost the bytes of {ref.upload_id}"
            for character_id, (team, keys) in self.deleted_characters.items():
                assert self.service.store.get_character(team, character_id) is None
                assert all(self.service.blobs.head(key) is None for key in keys)

    return UploadTicketsMachine
