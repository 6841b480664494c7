"""The transition table and its time rules."""

from __future__ import annotations

import itertools
from typing import Any

import attrs
import pytest

from upload_tickets import (
    AlreadyConsumed,
    Character,
    CharacterState,
    Classification,
    Event,
    InvalidTransition,
    NotUploaded,
    State,
    TicketExpired,
    UploadTicket,
    UploadUrlExpired,
)
from upload_tickets._lifecycle import TRANSITIONS, CharacterEvent, apply, apply_character
from upload_tickets.testing import START_US, make_ticket

CHANGES: dict[Event, dict[str, Any]] = {
    Event.UPLOAD: {"size": 3, "uploaded_at": START_US, "blob_key": "k"},
    Event.CONFIRM: {"size": 3, "uploaded_at": START_US},
    Event.CLASSIFY: {"classification": Classification("image/jpeg", 1, 1, "unknown")},
    Event.CONSUME: {"character_id": "chr_1"},
    Event.EVICT: {},
}


def _when(ticket: UploadTicket, event: Event) -> int:
    # Eviction is the one event that needs an expired ticket.
    return ticket.expires_at if event is Event.EVICT else START_US


@pytest.mark.parametrize(("state", "event"), list(itertools.product(State, Event)))
def test_every_pair_is_in_the_table_or_refused_by_name(state: State, event: Event) -> None:
    ticket = attrs.evolve(make_ticket(), state=state)
    if (state, event) in TRANSITIONS:
        moved = apply(ticket, event, _when(ticket, event), **CHANGES[event])
        assert moved.state is TRANSITIONS[state, event]
        assert moved.version == ticket.version + 1
        return
    with pytest.raises(InvalidTransition) as caught:
        apply(ticket, event, _when(ticket, event), **CHANGES[event])
    assert (caught.value.state, caught.value.event) == (state.value, event.value)
    assert state.value in caught.value.message
    assert event.value in caught.value.message
    expected = {State.MINTED: NotUploaded, State.CONSUMED: AlreadyConsumed}.get(state, InvalidTransition)
    assert type(caught.value) is expected


def test_reupload_drops_the_classification() -> None:
    ticket = attrs.evolve(
        make_ticket(), state=State.CLASSIFIED, classification=CHANGES[Event.CLASSIFY]["classification"]
    )
    moved = apply(ticket, Event.UPLOAD, START_US, size=9, uploaded_at=START_US, blob_key="k2")
    assert moved.state is State.UPLOADED
    assert moved.classification is None
    assert moved.size == 9


@pytest.mark.parametrize("event", [event for event in Event if event is not Event.EVICT])
def test_past_the_ticket_ttl_everything_is_expired(event: Event) -> None:
    ticket = attrs.evolve(make_ticket(), state=State.UPLOADED)
    with pytest.raises(TicketExpired):
        apply(ticket, event, ticket.expires_at, **CHANGES[event])


def test_upload_needs_a_live_url_but_confirm_does_not() -> None:
    ticket = make_ticket()
    with pytest.raises(UploadUrlExpired):
        apply(ticket, Event.UPLOAD, ticket.url_expires_at, **CHANGES[Event.UPLOAD])
    assert apply(ticket, Event.CONFIRM, ticket.url_expires_at, **CHANGES[Event.CONFIRM]).state is State.UPLOADED


def test_events_cannot_set_foreign_fields() -> None:
    with pytest.raises(TypeError, match="cannot set"):
        apply(attrs.evolve(make_ticket(), state=State.UPLOADED), Event.CONSUME, START_US, team="other")


def test_only_an_expired_unconsumed_ticket_can_be_claimed_for_eviction() -> None:
    ticket = attrs.evolve(make_ticket(), state=State.UPLOADED)
    with pytest.raises(InvalidTransition, match="has not expired"):
        apply(ticket, Event.EVICT, ticket.expires_at - 1)
    claimed = apply(ticket, Event.EVICT, ticket.expires_at)
    assert claimed.state is State.EVICTING
    with pytest.raises(TicketExpired):
        apply(claimed, Event.CONSUME, ticket.expires_at, character_id="chr_1")
    with pytest.raises(AlreadyConsumed):
        apply(attrs.evolve(ticket, state=State.CONSUMED), Event.EVICT, ticket.expires_at)


def test_character_transitions() -> None:
    character = Character(id="chr_1", team="t", refs=(), created_at=START_US)
    ready = apply_character(character, CharacterEvent.PROMOTED)
    assert (ready.state, ready.version) == (CharacterState.READY, 1)
    assert apply_character(ready, CharacterEvent.DELETE).state is CharacterState.DELETING
    with pytest.raises(InvalidTransition) as busy:
        apply_character(character, CharacterEvent.DELETE)
    assert busy.value.code == "character_busy"
    with pytest.raises(InvalidTransition):
        apply_character(ready, CharacterEvent.PROMOTED)
