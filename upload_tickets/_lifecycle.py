"""The upload-ticket lifecycle: this module is the only place a ticket's state changes.

States and events form a transition table (``TRANSITIONS``); anything not in the table
is refused with an error naming the state and the event. Time rules come first: a
ticket past its TTL is expired for every event, and an upload after the URL's expiry is
refused even when the state would allow it.

    minted --UPLOAD--> uploaded --CLASSIFY--> classified --CONSUME--> consumed
                       uploaded --CONSUME--> consumed
    uploaded|classified --UPLOAD--> uploaded (bytes replaced, classification dropped)
    minted --CONFIRM--> uploaded (bytes PUT straight to object storage, found by HEAD)
    uploaded|classified --CONFIRM--> uploaded (the object was PUT again: new ETag)
    minted|uploaded|classified --EVICT--> evicting (expired only: the sweeper's claim)

A consumed ticket is never evicted: its bytes belong to the character from the moment
of the consume. Characters have their own small table (``CHARACTER_TRANSITIONS``):

    promoting --PROMOTED--> ready --DELETE--> deleting

UPLOAD is a PUT through our own upload host, so the URL must still be live; CONFIRM
records bytes that the object store already accepted under its own URL expiry.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from upload_tickets._errors import (
    AlreadyConsumed,
    InvalidTransition,
    NotUploaded,
    TicketExpired,
    UploadUrlExpired,
)
from upload_tickets._models import Character, CharacterState, State, UploadTicket


class Event(enum.StrEnum):
    """Something that happens to a ticket."""

    UPLOAD = "upload"
    CONFIRM = "confirm"
    CLASSIFY = "classify"
    CONSUME = "consume"
    EVICT = "evict"


class CharacterEvent(enum.StrEnum):
    """Something that happens to a character."""

    PROMOTED = "promoted"
    DELETE = "delete"


TRANSITIONS: dict[tuple[State, Event], State] = {
    (State.MINTED, Event.UPLOAD): State.UPLOADED,
    (State.MINTED, Event.CONFIRM): State.UPLOADED,
    (State.UPLOADED, Event.CONFIRM): State.UPLOADED,
    (State.CLASSIFIED, Event.CONFIRM): State.UPLOADED,
    (State.UPLOADED, Event.UPLOAD): State.UPLOADED,
    (State.CLASSIFIED, Event.UPLOAD): State.UPLOADED,
    (State.UPLOADED, Event.CLASSIFY): State.CLASSIFIED,
    (State.CLASSIFIED, Event.CLASSIFY): State.CLASSIFIED,
    (State.UPLOADED, Event.CONSUME): State.CONSUMED,
    (State.CLASSIFIED, Event.CONSUME): State.CONSUMED,
    (State.MINTED, Event.EVICT): State.EVICTING,
    (State.UPLOADED, Event.EVICT): State.EVICTING,
    (State.CLASSIFIED, Event.EVICT): State.EVICTING,
}

CHARACTER_TRANSITIONS: dict[tuple[CharacterState, CharacterEvent], CharacterState] = {
    (CharacterState.PROMOTING, CharacterEvent.PROMOTED): CharacterState.READY,
    (CharacterState.READY, CharacterEvent.DELETE): CharacterState.DELETING,
}

# Which error explains a refusal, by the state the ticket is stuck in.
_REFUSALS: dict[State, type[InvalidTransition]] = {
    State.MINTED: NotUploaded,
    State.CONSUMED: AlreadyConsumed,
}

# Fields an event may set alongside the state; anything else is a programming error.
_EVENT_FIELDS: dict[Event, frozenset[str]] = {
    Event.UPLOAD: frozenset({"size", "uploaded_at", "blob_key"}),
    Event.CONFIRM: frozenset({"size", "uploaded_at", "etag"}),
    Event.CLASSIFY: frozenset({"classification"}),
    Event.CONSUME: frozenset({"character_id"}),
    Event.EVICT: frozenset(),
}


def check(ticket: UploadTicket, event: Event, now_us: int, param: str | None = None) -> State:
    """Return the state ``event`` leads to, or raise the error that forbids it."""
    if event is Event.EVICT:
        if not ticket.is_expired(now_us):
            raise InvalidTransition(f"upload {ticket.id} has not expired", state=ticket.state.value, event=event.value)
    elif ticket.is_expired(now_us):
        raise TicketExpired(f"upload {ticket.id} has expired", param=param)
    target = TRANSITIONS.get((ticket.state, event))
    if target is None:
        error = _REFUSALS.get(ticket.state, InvalidTransition)
        # Only the owning team ever holds its ticket, so naming the character leaks nothing.
        by = f" by character {ticket.character_id}" if ticket.character_id else ""
        raise error(
            f"cannot {event.value} upload {ticket.id}: it is {ticket.state.value}{by}",
            state=ticket.state.value,
            event=event.value,
            param=param,
        )
    if event is Event.UPLOAD and now_us >= ticket.url_expires_at:
        raise UploadUrlExpired(f"the upload URL of {ticket.id} has expired; mint a new one")
    return target


def apply(ticket: UploadTicket, event: Event, now_us: int, *, param: str | None = None, **changes: Any) -> UploadTicket:
    """Return ``ticket`` after ``event``, one version later; raise if the table forbids it."""
    target = check(ticket, event, now_us, param)
    unexpected = changes.keys() - _EVENT_FIELDS[event]
    if unexpected:
        raise TypeError(f"{event.value} cannot set {sorted(unexpected)}")
    if event in (Event.UPLOAD, Event.CONFIRM):
        # New bytes make any earlier classification stale.
        changes["classification"] = None
    return attrs.evolve(ticket, state=target, version=ticket.version + 1, **changes)


def apply_character(character: Character, event: CharacterEvent) -> Character:
    """Return ``character`` after ``event``, one version later; raise if the table forbids it."""
    target = CHARACTER_TRANSITIONS.get((character.state, event))
    if target is None:
        raise InvalidTransition(
            f"cannot {event.value} character {character.id}: it is {character.state.value}",
            state=character.state.value,
            event=event.value,
            code="character_busy" if character.state is not CharacterState.READY else None,
        )
    return attrs.evolve(character, state=target, version=character.version + 1)
