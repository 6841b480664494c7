"""Stored tickets survive an upgrade: what the previous release wrote is read, consumed and swept."""

from __future__ import annotations

import json
from typing import cast

import attrs
import pytest

from tests.redis.support import redis_service
from upload_tickets import (
    CharacterState,
    Classification,
    ManualClock,
    MemoryBlobStore,
    State,
    SystemClock,
    Team,
    UploadTicket,
)
from upload_tickets.testing import image_bytes, make_ticket
from upload_tickets.testing.ownership import read_character_bytes
from upload_tickets_redis import RedisBackend, _codec
from upload_tickets_redis._codec import TICKET_FORMAT, decode, encode


def encode_f572a3b(ticket: UploadTicket) -> str:
    """The ticket encoding of commit f572a3b, verbatim: a positional array without a format tag."""
    c = ticket.classification
    return json.dumps(
        [
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
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )


def test_a_ticket_written_by_the_previous_release_is_read_and_consumed(
    redis_backend: RedisBackend, prefix: str
) -> None:
    now = SystemClock().now_us()
    service = redis_service(redis_backend, ManualClock(now), MemoryBlobStore())
    team = Team("legacy")
    minted = make_ticket(team=team.id, now_us=now, idempotency_key="old-key")
    ticket = attrs.evolve(
        minted,
        filename="front.png",
        extension="png",
        content_type="image/png",
        blob_key=f"staged/{team.id}/{minted.id}.0a1b2c",
        state=State.CLASSIFIED,
        version=2,
        size=len(image_bytes("image/png")),
        uploaded_at=now,
        classification=Classification("image/png", 8, 6, "front"),
    )
    service.blobs.put(ticket.blob_key, [image_bytes("image/png")], max_bytes=ticket.max_bytes, content_type="image/png")
    # Straight into Redis, keys and fields as f572a3b's CREATE and REPLACE scripts left them.
    client = redis_backend.client
    key = f"{prefix}:{{{team.id}}}:t:{ticket.id}"
    client.hset(key, mapping={"v": ticket.version, "d": encode_f572a3b(ticket)})
    client.set(f"{prefix}:{{{team.id}}}:i:old-key", ticket.id)
    client.zadd(f"{prefix}:{{{team.id}}}:exp", {ticket.id: ticket.expires_at})
    client.sadd(f"{prefix}:teams", team.id)

    assert redis_backend.get(team.id, ticket.id) == ticket
    assert redis_backend.find_by_idempotency_key(team.id, "old-key") == ticket

    character = service.consume(team, [ticket.id]).character

    assert character.state is CharacterState.READY
    assert character.refs[0].classification == ticket.classification
    assert read_character_bytes(service, team, character.id) == [image_bytes("image/png")]
    consumed = redis_backend.get(team.id, ticket.id)
    assert consumed is not None
    assert (consumed.state, consumed.version, consumed.character_id) == (State.CONSUMED, 3, character.id)
    assert json.loads(cast("str", client.hget(key, "d")))[0] == TICKET_FORMAT  # rewritten in the current format


def test_the_current_format_keeps_every_field() -> None:
    ticket = attrs.evolve(
        make_ticket(idempotency_key="k"),
        state=State.UPLOADED,
        version=1,
        size=3,
        uploaded_at=5,
        etag='"0cc175b9c0f1b6a831c399e269772661"',
        classification=Classification("image/jpeg", 8, 6, "side"),
        character_id="chr_x",
    )
    assert decode(encode(ticket)) == ticket
    assert decode(encode_f572a3b(ticket)) == attrs.evolve(ticket, etag=None)


def test_an_unknown_format_is_refused_not_misread() -> None:
    record = json.loads(encode(make_ticket()))
    record[0] = TICKET_FORMAT + 1
    with pytest.raises(ValueError, match="unknown ticket record format"):
        decode(json.dumps(record))


def test_an_etag_survives_the_store(redis_backend: RedisBackend) -> None:
    ticket = attrs.evolve(make_ticket(), etag='"d41d8cd98f00b204e9800998ecf8427e"')
    redis_backend.create(ticket)
    assert redis_backend.get(ticket.team, ticket.id) == ticket


def test_the_newest_format_stores_every_field_of_the_ticket() -> None:
    # A field added to UploadTicket without a new format would be silently dropped in Redis.
    assert _codec.FORMAT_FIELDS[_codec.TICKET_FORMAT] == tuple(field.name for field in attrs.fields(UploadTicket))
