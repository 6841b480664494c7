"""Tickets and idempotency claims as compact JSON arrays (positional: half the bytes of an object, no key strings).

The first element is the format version, :data:`TICKET_FORMAT`. Format 1 carried no tag
(its first element is the ticket id, a string) and had no ``etag``: tickets stored by
earlier releases live on in Redis for up to their TTL plus the grace, so :func:`decode`
reads every format ever written. Add a field by appending it, bumping the format and
teaching :func:`decode` to pad the older forms. Claims follow the same rules with their
own tag, :data:`CLAIM_FORMAT`.
"""

from __future__ import annotations

import json

from upload_tickets import Classification, IdempotencyClaim, State, UploadTicket

#: The version tag :func:`encode` writes.
TICKET_FORMAT = 2
#: The version tag :func:`encode_claim` writes.
CLAIM_FORMAT = 1


def encode(ticket: UploadTicket) -> str:
    """Serialize a ticket in the current format."""
    c = ticket.classification
    return json.dumps(
        [
            TICKET_FORMAT,
            ticket.id,
            ticket.team,
            ticket.filename,
            ticket.extension,
            ticket.content_type,
            ticket.api_version,
            ticket.created_at,
            ticket.url_expires_at,
            ticket.expires_at,
            ticket.max_bytes,
            ticket.blob_key,
            ticket.state.value,
            ticket.version,
            ticket.size,
            ticket.uploaded_at,
            None if c is None else [c.detected_type, c.width, c.height, c.pose],
            ticket.character_id,
            ticket.idempotency_key,
            ticket.request_hash,
            ticket.etag,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )


def decode(data: str | bytes) -> UploadTicket:
    """Deserialize what :func:`encode` wrote, in any format so far."""
    record = json.loads(data)
    if isinstance(record[0], str):
        record = [1, *record, None]  # format 1: no tag, no etag
    elif record[0] != TICKET_FORMAT:
        raise ValueError(f"unknown ticket record format {record[0]!r}")
    (
        _,
        ticket_id,
        team,
        filename,
        extension,
        content_type,
        api_version,
        created_at,
        url_expires_at,
        expires_at,
        max_bytes,
        blob_key,
        state,
        version,
        size,
        uploaded_at,
        classification,
        character_id,
        idempotency_key,
        request_hash,
        etag,
    ) = record
    return UploadTicket(
        id=ticket_id,
        team=team,
        filename=filename,
        extension=extension,
        content_type=content_type,
        api_version=api_version,
        created_at=created_at,
        url_expires_at=url_expires_at,
        expires_at=expires_at,
        max_bytes=max_bytes,
        blob_key=blob_key,
        state=State(state),
        version=version,
        size=size,
        uploaded_at=uploaded_at,
        classification=None if classification is None else Classification(*classification),
        character_id=character_id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        etag=etag,
    )


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
