"""Tickets and idempotency claims as compact JSON arrays (positional: half the bytes of an object, no key strings).

The first element is the format version, :data:`TICKET_FORMAT`. Format 1 carried no tag
(its first element is the ticket id, a string) and had no ``etag``: tickets stored by
earlier releases live on in Redis for up to their TTL plus the grace, so :func:`decode`
reads every format ever written. Add a field by appending it, bumping the format and
teaching :func:`decode` to pad the older forms. Claims follow the same rules with their
own tag, :data:`CLAIM_FORMAT`; so do sweep heartbeats, with :data:`BEAT_FORMAT`.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from upload_tickets import Classification, IdempotencyClaim, State, SweepBeat, UploadTicket

#: The version tag :func:`encode` writes.
TICKET_FORMAT = 2
#: The version tag :func:`encode_claim` writes.
CLAIM_FORMAT = 1
#: The version tag :func:`encode_beat` writes.
BEAT_FORMAT = 1


#: The ticket fields each format stores, in order; a new field of :class:`UploadTicket`
#: means a new format (a test compares the newest with the model's fields).
FORMAT_FIELDS: dict[int, tuple[str, ...]] = {
    2: tuple(field.name for field in attrs.fields(UploadTicket)),
}
FORMAT_FIELDS[1] = tuple(name for name in FORMAT_FIELDS[2] if name != "etag")


def _encode_value(name: str, value: object) -> object:
    if isinstance(value, State):
        return value.value
    if isinstance(value, Classification):
        return [value.detected_type, value.width, value.height, value.pose]
    return value


def _decode_value(name: str, value: Any) -> Any:
    if name == "state":
        return State(value)
    if name == "classification" and value is not None:
        return Classification(*value)
    return value


def encode(ticket: UploadTicket) -> str:
    """Serialize a ticket in the current format."""
    values = [_encode_value(name, getattr(ticket, name)) for name in FORMAT_FIELDS[TICKET_FORMAT]]
    return json.dumps([TICKET_FORMAT, *values], separators=(",", ":"), ensure_ascii=False)


def decode(data: str | bytes) -> UploadTicket:
    """Deserialize what :func:`encode` wrote, in any format so far."""
    record = json.loads(data)
    if isinstance(record[0], str):
        record = [1, *record]  # format 1 carried no tag
    names = FORMAT_FIELDS.get(record[0])
    if names is None or len(names) != len(record) - 1:
        raise ValueError(f"unknown ticket record format {record[0]!r}")
    return UploadTicket(**{name: _decode_value(name, value) for name, value in zip(names, record[1:], strict=True)})


def encode_claim(claim: IdempotencyClaim) -> str:
    """Serialize an idempotency claim; equal claims give equal strings (release compares them)."""
    # ``_scripts.CLAIM`` reads ``expires_at`` as element 6: keep it there.
    return json.dumps(
        [CLAIM_FORMAT, claim.operation, claim.key, claim.request_hash, claim.resource_id, claim.expires_at],
        separators=(",", ":"),
        ensure_ascii=False,
    )


def decode_claim(data: str | bytes) -> IdempotencyClaim:
    """Deserialize what :func:`encode_claim` wrote."""
    record = json.loads(data)
    if record[0] != CLAIM_FORMAT:
        raise ValueError(f"unknown idempotency claim record format {record[0]!r}")
    _, operation, key, request_hash, resource_id, expires_at = record
    return IdempotencyClaim(
        operation=operation, key=key, request_hash=request_hash, resource_id=resource_id, expires_at=expires_at
    )


def encode_beat(beat: SweepBeat) -> str:
    """Serialize a sweep heartbeat."""
    return json.dumps(
        [BEAT_FORMAT, beat.holder, beat.finished_at_us, beat.tickets, beat.blobs, beat.characters],
        separators=(",", ":"),
        ensure_ascii=False,
    )


def decode_beat(data: str | bytes) -> SweepBeat:
    """Deserialize what :func:`encode_beat` wrote."""
    record = json.loads(data)
    if record[0] != BEAT_FORMAT:
        raise ValueError(f"unknown sweep heartbeat record format {record[0]!r}")
    _, holder, finished_at_us, tickets, blobs, characters = record
    return SweepBeat(holder=holder, finished_at_us=finished_at_us, tickets=tickets, blobs=blobs, characters=characters)
