"""Byte ownership, for any backend: characters keep their bytes, expired uploads lose theirs.

Subclass :class:`ServiceOwnershipContract` and give a fixture ``service_factory``: a
callable taking a clock and returning an :class:`UploadTickets` on your store and blob
store (and a local upload host: its signer must verify). :func:`sweep_consume_race`
races a consume against a sweep at a tiny TTL on the real clock, round after round.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import attrs
import pytest

from upload_tickets._errors import NotFound, TicketExpired, UploadTicketsError
from upload_tickets._models import Character, CharacterState, MintRequest, State, Team
from upload_tickets._policy import HOUR_US
from upload_tickets.clock import ManualClock, SystemClock
from upload_tickets.protocols import Clock
from upload_tickets.service import UploadTickets
from upload_tickets.testing._fixtures import START_US, image_bytes

ServiceFactory = Callable[[Clock], UploadTickets]
_PNG = MintRequest("front.png", "png", "image/png")


def _team() -> Team:
    return Team(f"own-{uuid.uuid4().hex[:12]}")


def upload(service: UploadTickets, team: Team, data: bytes | None = None) -> str:
    """Mint a PNG ticket and PUT bytes to it through the upload host; return its id."""
    minted = service.mint(team, _PNG)
    query = urlsplit(minted.upload.url).query
    body = image_bytes("image/png") if data is None else data
    service.receive(minted.ticket.id, query, content_type="image/png", content_length=len(body), body=[body])
    return minted.ticket.id


def read_character_bytes(service: UploadTickets, team: Team, character_id: str) -> list[bytes]:
    """Every ref's bytes, read back through the blob store."""
    out = []
    for ref in service.get_character(team, character_id).refs:
        with service.blobs.open(ref.blob_key) as stream:
            out.append(stream.read())
    return out


class ServiceOwnershipContract:
    """Needs a fixture ``service_factory`` (see the module docstring)."""

    def test_consume_then_sweep_keeps_the_characters_bytes(self, service_factory: ServiceFactory) -> None:
        clock = ManualClock(START_US)
        service, team = service_factory(clock), _team()
        kept = [upload(service, team, image_bytes("image/png", 8 + n, 6)) for n in range(2)]
        lost = [upload(service, team) for _ in range(2)]
        never_uploaded = service.mint(team, _PNG).ticket
        staged = [service.get(team, upload_id).blob_key for upload_id in lost]
        character = service.consume(team, kept).character
        assert character.state is CharacterState.READY
        clock.advance(25 * HOUR_US)
        while service.sweep().tickets:
            pass
        assert read_character_bytes(service, team, character.id) == [
            image_bytes("image/png", 8 + n, 6) for n in range(2)
        ]
        assert all(service.blobs.head(key) is None for key in staged), "an expired upload kept its bytes"
        for upload_id in [*kept, *lost, never_uploaded.id]:
            assert service.store.get(team.id, upload_id) is None
        assert service.get_character(team, character.id) == character

    def test_a_consume_that_read_before_expiry_loses_to_the_sweep(self, service_factory: ServiceFactory) -> None:
        clock = ManualClock(START_US)
        service, team = service_factory(clock), _team()
        upload_id = upload(service, team)
        read_early = service.store.get(team.id, upload_id)
        assert read_early is not None
        clock.advance(25 * HOUR_US)
        report = service.sweep()
        assert (report.tickets, report.blobs) == (1, 1)
        # The consume's version-checked write, after the sweep's claim: refused.
        late = attrs.evolve(read_early, state=State.CONSUMED, version=read_early.version + 1, character_id="chr_x")
        assert service.store.replace([late]) is False
        with pytest.raises(NotFound):
            service.consume(team, [upload_id])

    def test_a_sweep_that_read_before_the_consume_spares_its_bytes(self, service_factory: ServiceFactory) -> None:
        clock = ManualClock(START_US)
        service, team = service_factory(clock), _team()
        upload_id = upload(service, team)
        clock.advance(24 * HOUR_US - 1)
        character = service.consume(team, [upload_id]).character
        clock.advance(1)
        report = service.sweep()
        assert (report.tickets, report.blobs) == (1, 0)
        assert read_character_bytes(service, team, character.id) == [image_bytes("image/png")]

    def test_characters_can_be_read_listed_and_deleted(self, service_factory: ServiceFactory) -> None:
        clock = ManualClock(START_US)
        service, team, other = service_factory(clock), _team(), _team()
        made = [service.consume(team, [upload(service, team)]).character for _ in range(3)]
        page = service.list_characters(team, limit=2)
        assert [c.id for c in page.characters] == [c.id for c in made[:2]]
        assert page.next_cursor is not None
        rest = service.list_characters(team, cursor=page.next_cursor, limit=2)
        assert ([c.id for c in rest.characters], rest.next_cursor) == ([made[2].id], None)
        assert service.list_characters(other).characters == ()
        with pytest.raises(NotFound):
            service.get_character(other, made[0].id)
        with pytest.raises(NotFound):
            service.delete_character(other, made[0].id)
        keys = [ref.blob_key for ref in made[0].refs]
        service.delete_character(team, made[0].id)
        assert all(service.blobs.head(key) is None for key in keys)
        with pytest.raises(NotFound):
            service.get_character(team, made[0].id)
        assert [c.id for c in service.list_characters(team).characters] == [c.id for c in made[1:]]


class _ShiftedClock:
    """The system clock, moved by ``shift_us``."""

    def __init__(self) -> None:
        self.shift_us = 0

    def now_us(self) -> int:
        return SystemClock().now_us() + self.shift_us


@attrs.frozen
class RaceOutcome:
    """How the rounds of :func:`sweep_consume_race` ended."""

    consumed: int
    expired: int
    lost: int


def sweep_consume_race(service_factory: ServiceFactory, *, rounds: int, ttl_us: int = 80_000) -> RaceOutcome:
    """Race a consume against a sweep at a tiny TTL on the real clock; count the bytes lost.

    Each round uploads one ticket, then a consume and a sweep start from two threads at
    random moments around the expiry. A consume that succeeded must leave its character
    with readable bytes; one that lost must have got 410 (or 404 once the record is gone).
    """
    clock = _ShiftedClock()
    service = service_factory(clock)
    consumed = expired = lost = 0
    rng = random.Random(1)
    for _ in range(rounds):
        # Minted and uploaded "a ticket TTL ago, less ttl_us": it expires ttl_us from now,
        # while its upload URL (whole seconds) was live when the bytes went up.
        clock.shift_us = ttl_us - service.ttl.ticket_ttl_us
        team = _team()  # a fresh bucket each round: the race is about bytes, not rate limits
        upload_id = upload(service, team)
        clock.shift_us = 0
        outcome: list[object] = []

        def consume(
            delay: float, team: Team = team, upload_id: str = upload_id, outcome: list[object] = outcome
        ) -> None:
            time.sleep(delay)
            try:
                outcome.append(service.consume(team, [upload_id]).character)
            except UploadTicketsError as error:
                outcome.append(error)

        def sweep(delay: float) -> None:
            time.sleep(delay)
            service.sweep()

        jitter = ttl_us / 1e6
        threads = [
            threading.Thread(target=consume, args=(jitter * rng.uniform(0.6, 1.4),)),
            threading.Thread(target=sweep, args=(jitter * rng.uniform(0.6, 1.4),)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result = outcome[0]
        if isinstance(result, (TicketExpired, NotFound)):
            expired += 1
            continue
        if not isinstance(result, Character):
            raise AssertionError(f"the consume ended with {result!r}")
        consumed += 1
        service.sweep()
        try:
            if read_character_bytes(service, team, result.id) != [image_bytes("image/png")]:
                lost += 1
        except NotFound:
            lost += 1
    return RaceOutcome(consumed=consumed, expired=expired, lost=lost)
