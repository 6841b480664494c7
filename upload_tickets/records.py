"""Stored forms of the library's records, for backends that keep them as text.

Every encoding carries a version tag (``"v"``): a backend reads every version it has
ever written, so records already stored survive an upgrade of the library. Add a field
by bumping ``CHARACTER_FORMAT`` and teaching :func:`decode_character` the old form.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from upload_tickets._models import Character, CharacterRef, CharacterState, Classification

#: The version tag :func:`encode_character` writes.
CHARACTER_FORMAT = 1


def _classification(value: dict[str, Any] | None) -> Classification | None:
    return None if value is None else Classification(**value)


def encode_character(character: Character) -> str:
    """``character`` as compact JSON with a version tag."""
    refs = [
        [
            ref.upload_id,
            ref.filename,
            ref.content_type,
            ref.size,
            None if ref.classification is None else attrs.asdict(ref.classification),
            ref.staged_key,
            ref.blob_key,
            ref.etag,
        ]
        for ref in character.refs
    ]
    record = {
        "v": CHARACTER_FORMAT,
        "id": character.id,
        "team": character.team,
        "created_at": character.created_at,
        "state": character.state.value,
        "version": character.version,
        "refs": refs,
    }
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def decode_character(text: str) -> Character:
    """The character :func:`encode_character` wrote, in any format version so far."""
    record = json.loads(text)
    if record.get("v") != CHARACTER_FORMAT:
        raise ValueError(f"unknown character record format {record.get('v')!r}")
    refs = tuple(
        CharacterRef(
            upload_id=upload_id,
            filename=filename,
            content_type=content_type,
            size=size,
            classification=_classification(classification),
            staged_key=staged_key,
            blob_key=blob_key,
            etag=etag,
        )
        for upload_id, filename, content_type, size, classification, staged_key, blob_key, etag in record["refs"]
    )
    return Character(
        id=record["id"],
        team=record["team"],
        refs=refs,
        created_at=record["created_at"],
        state=CharacterState(record["state"]),
        version=record["version"],
    )
