"""Small builders shared by the contract suite, the state machine and the tests."""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence

from ulid import ULID

from upload_tickets._models import Character, CharacterRef, Classification, UploadTicket

START_US = 1_778_000_000_000_000
_PIL_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


@functools.cache
def image_bytes(content_type: str, width: int = 8, height: int = 6) -> bytes:
    """A tiny valid image of ``content_type`` (made once, then cached)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 90)).save(buffer, _PIL_FORMATS[content_type])
    return buffer.getvalue()


def new_ticket_id() -> str:
    """A fresh ``upl_<ULID>`` id."""
    return f"upl_{ULID()}"


def make_ticket(
    *,
    team: str = "team_a",
    now_us: int = START_US,
    ticket_ttl_us: int = 24 * 3600 * 1_000_000,
    idempotency_key: str | None = None,
    ticket_id: str | None = None,
) -> UploadTicket:
    """A minted ticket with plausible fields, for store contracts."""
    ticket_id = ticket_id or new_ticket_id()
    return UploadTicket(
        id=ticket_id,
        team=team,
        filename="front-portrait.jpg",
        extension="jpg",
        content_type="image/jpeg",
        api_version="2026-05-15",
        created_at=now_us,
        url_expires_at=now_us + 15 * 60 * 1_000_000,
        expires_at=now_us + ticket_ttl_us,
        max_bytes=1024,
        blob_key=ticket_id,
        idempotency_key=idempotency_key,
        request_hash=None if idempotency_key is None else "hash-" + idempotency_key,
    )


def make_character(tickets: Sequence[UploadTicket], *, now_us: int = START_US) -> Character:
    """A ``promoting`` character over ``tickets`` (all of one team), for store contracts."""
    character_id = f"chr_{ULID()}"
    team = tickets[0].team
    refs = tuple(
        CharacterRef(
            upload_id=ticket.id,
            filename=ticket.filename,
            content_type=ticket.content_type,
            size=3,
            classification=Classification("image/jpeg", 8, 6, "front") if n % 2 == 0 else None,
            staged_key=ticket.blob_key,
            blob_key=f"characters/{team}/{character_id}/{n}",
            etag=None if n % 2 == 0 else '"d41d8cd98f00b204e9800998ecf8427e"',
        )
        for n, ticket in enumerate(tickets)
    )
    return Character(id=character_id, team=team, refs=refs, created_at=now_us)
