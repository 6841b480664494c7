"""The transition table and its time rules."""

from __future__ import annotations

import itertools
from typing import Any

import attrs
import pytest

from upload_tickets import (
    AlreadyConsumed,
    Classification,
    Event,
    InvalidTransition,
    NotUploaded,
    State,
    TicketExpired,
    UploadUrlExpired,
)
from upload_tickets._lifecycle import TRANSITIONS, apply
from upload_tickets.testing import START_US, make_ticket

CHANGES: dict[Event, dict[str, Any]] = {
    Event.UPLOAD: {"size": 3, "uploaded_at": START_US, "blob_key": "k"},
    Event.CONFIRM: {"size": 3, "uploaded_at": START_US},
    Event.CLASSIFY: {"classification": Classification("image/jpeg", 1, 1, "unknown")},
    Event.CONSUME: {"character_id": "chr_1"},
}


@pytest.mark.parametrize(("state", "event"), list(itertools.product(State, Event)))
def test_every_pair_is_in_the_table_or_refused_by_name(state: State, event: Event) -> None:
    ticket = attrs.evolve(make_ticket(), state=state)
    if (state, event) in TRANSITIONS:
        moved = apply(ticket, event, START_US, **CHANGES[event])
        assert moved.state is TRANSITIONS[state, event]
        assert moved.version == ticket.version + 1
        return
    with pytest.raises(InvalidTransition) as caught:
        apply(ticket, event, START_US, **CHANGES[event])
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


@pytest.mark.parametrize("event", list(Event))
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
