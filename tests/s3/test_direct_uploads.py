"""Presigned PUTs straight to the bucket, on s3rver and on LocalStack (both verify the signatures).

A presigned URL stays live for its whole TTL, so the client can PUT anything, and again
after its bytes were checked: consume checks the bytes of every upload classify did not
(refusing the whole request if one is not a complete image of its declared type), refuses
bytes whose ETag changed, and once consumed the character keeps its own copy, which no
replayed PUT and no sweep can touch.
"""

from __future__ import annotations

import re
from typing import BinaryIO

import pytest

from tests.s3.support import PNG, S3Server, direct_service, put, read
from tests.support import TEAM_A
from upload_tickets import Character, CharacterState, ManualClock, State, SystemClock, UnprocessableImage, UploadChanged
from upload_tickets.testing import image_bytes

GARBAGE = b"\0not an image" * 500
_HOUR_US = 3600 * 1_000_000


@pytest.fixture(params=["s3rver", "localstack"])
def s3(request: pytest.FixtureRequest) -> S3Server:
    server: S3Server = request.getfixturevalue(request.param)
    return server.isolated()


def test_the_server_verifies_the_presigned_signature(s3: S3Server) -> None:
    minted = direct_service(s3).mint(TEAM_A, PNG)
    stretched = re.sub(r"X-Amz-Expires=(\d+)", lambda m: f"X-Amz-Expires={int(m[1]) + 1}", minted.upload.url)
    assert stretched != minted.upload.url
    assert put(stretched, image_bytes("image/png")).status_code == 403
    assert put(minted.upload.url, image_bytes("image/png")).status_code == 200


def test_bytes_replaced_after_classify_are_refused_at_consume(s3: S3Server) -> None:
    service = direct_service(s3)
    minted = service.mint(TEAM_A, PNG)
    assert put(minted.upload.url, image_bytes("image/png")).status_code == 200
    classified = service.classify(TEAM_A, minted.ticket.id).ticket
    assert classified.etag is not None
    assert put(minted.upload.url, GARBAGE).status_code == 200  # same URL, still live

    with pytest.raises(UploadChanged) as refused:
        service.consume(TEAM_A, [minted.ticket.id])
    assert (refused.value.http_status, refused.value.code, refused.value.param) == (
        409,
        "upload_changed",
        "upload_ids[0]",
    )
    assert service.get(TEAM_A, minted.ticket.id) == classified  # nothing consumed, nothing recorded

    # Classify again: it confirms the new bytes (their ETag) and judges them.
    with pytest.raises(UnprocessableImage):
        service.classify(TEAM_A, minted.ticket.id)
    reconfirmed = service.get(TEAM_A, minted.ticket.id)
    info = service.blobs.head(minted.ticket.blob_key)
    assert info is not None
    assert (reconfirmed.state, reconfirmed.classification, reconfirmed.size) == (State.UPLOADED, None, len(GARBAGE))
    assert reconfirmed.etag == info.etag != classified.etag

    # Good bytes once more: exactly those are what the character gets.
    fixed = image_bytes("image/png", 12, 9)
    assert put(minted.upload.url, fixed).status_code == 200
    assert service.classify(TEAM_A, minted.ticket.id).ticket.state is State.CLASSIFIED
    character = service.consume(TEAM_A, [minted.ticket.id]).character
    assert read(service.blobs, character.refs[0].blob_key) == fixed


def test_the_character_owns_a_copy_no_replay_or_sweep_touches(s3: S3Server) -> None:
    clock = ManualClock(SystemClock().now_us())
    service = direct_service(s3, clock=clock)
    minted = service.mint(TEAM_A, PNG)
    assert put(minted.upload.url, image_bytes("image/png")).status_code == 200
    service.classify(TEAM_A, minted.ticket.id)
    character = service.consume(TEAM_A, [minted.ticket.id]).character
    assert character.state is CharacterState.READY
    [ref] = character.refs
    assert ref.staged_key == minted.ticket.blob_key == f"staged/{TEAM_A.id}/{minted.ticket.id}"
    assert ref.blob_key == f"characters/{TEAM_A.id}/{character.id}/0"
    objects = s3.object_keys()
    assert f"{s3.location.character_prefix}{TEAM_A.id}/{character.id}/0" in objects
    assert s3.location.object_key(ref.staged_key) not in objects  # the staged object is gone
    assert read(service.blobs, ref.blob_key) == image_bytes("image/png")
    copied = service.blobs.head(ref.blob_key)
    assert copied is not None
    assert copied.content_type == "image/png"

    # The URL is still live: a replayed PUT lands on the staged key, never on the character's.
    assert put(minted.upload.url, GARBAGE).status_code == 200
    assert read(service.blobs, ref.blob_key) == image_bytes("image/png")

    clock.advance(25 * _HOUR_US)
    report = service.sweep()
    assert (report.tickets, report.blobs) == (1, 0)
    assert read(service.blobs, ref.blob_key) == image_bytes("image/png")
    assert service.get_character(TEAM_A, character.id) == character
    # The consumed ticket's record is gone, so the replayed bytes are nobody's: only the
    # lifecycle rule on the upload prefix removes them.
    assert s3.location.object_key(ref.staged_key) in s3.object_keys()


# Signature and IHDR of a real PNG (8 + 25 bytes), then no image data at all.
_PNG_HEADER_THEN_GARBAGE = image_bytes("image/png")[:33] + GARBAGE
_NOT_A_PNG = {
    "not-an-image": GARBAGE,
    "jpeg-on-a-png-ticket": image_bytes("image/jpeg"),
    "png-header-then-garbage": _PNG_HEADER_THEN_GARBAGE,
}


@pytest.mark.parametrize("bad", list(_NOT_A_PNG.values()), ids=list(_NOT_A_PNG))
def test_consume_checks_bytes_that_were_never_classified(s3: S3Server, bad: bytes) -> None:
    service = direct_service(s3)
    good, wrong = service.mint(TEAM_A, PNG), service.mint(TEAM_A, PNG)
    assert put(good.upload.url, image_bytes("image/png")).status_code == 200
    # The URL binds image/png, so whatever the bytes are, they go up under that type.
    assert put(wrong.upload.url, bad).status_code == 200

    with pytest.raises(UnprocessableImage) as refused:
        service.consume(TEAM_A, [good.ticket.id, wrong.ticket.id])
    assert (refused.value.http_status, refused.value.param) == (422, "upload_ids[1]")
    assert wrong.ticket.id in refused.value.message
    assert service.list_characters(TEAM_A).characters == ()
    for minted in (good, wrong):
        assert service.get(TEAM_A, minted.ticket.id).state is not State.CONSUMED
        assert service.blobs.head(minted.ticket.blob_key) is not None
    assert not any(key.startswith(s3.location.character_prefix) for key in s3.object_keys())

    character = service.consume(TEAM_A, [good.ticket.id]).character
    assert character.state is CharacterState.READY
    [ref] = character.refs
    assert ref.classification is not None
    assert (ref.classification.detected_type, ref.classification.width, ref.classification.height) == (
        "image/png",
        8,
        6,
    )
    assert read(service.blobs, ref.blob_key) == image_bytes("image/png")
    assert service.get_character(TEAM_A, character.id) == character

    with pytest.raises(UnprocessableImage) as alone:
        service.consume(TEAM_A, [wrong.ticket.id])
    assert alone.value.param == "upload_ids[0]"


@pytest.mark.parametrize("replacement", [GARBAGE, image_bytes("image/png", 12, 9)], ids=["garbage", "another-png"])
def test_bytes_replaced_after_classify_are_never_consumed_unchecked(s3: S3Server, replacement: bytes) -> None:
    service = direct_service(s3)
    minted = service.mint(TEAM_A, PNG)
    assert put(minted.upload.url, image_bytes("image/png")).status_code == 200
    classified = service.classify(TEAM_A, minted.ticket.id).ticket
    assert put(minted.upload.url, replacement).status_code == 200  # same URL, still live

    def consume() -> Character | UploadChanged | UnprocessableImage:
        try:
            return service.consume(TEAM_A, [minted.ticket.id]).character
        except (UploadChanged, UnprocessableImage) as refused:
            return refused

    outcome = consume()
    if isinstance(outcome, Character):
        # Consumed only after a re-check: the character holds the new bytes, judged as such.
        assert replacement != GARBAGE
        [ref] = outcome.refs
        assert ref.etag != classified.etag
        assert ref.classification is not None
        assert (ref.classification.width, ref.classification.height) == (12, 9)
        assert read(service.blobs, ref.blob_key) == replacement
    else:
        assert outcome.param == "upload_ids[0]"
        assert service.get(TEAM_A, minted.ticket.id).state is not State.CONSUMED
        assert service.list_characters(TEAM_A).characters == ()


def test_bytes_replaced_while_consume_checks_them_are_refused(s3: S3Server) -> None:
    service = direct_service(s3)
    minted = service.mint(TEAM_A, PNG)
    assert put(minted.upload.url, image_bytes("image/png")).status_code == 200
    replacement = image_bytes("image/png", 12, 9)
    opened = service.blobs.open

    def replaced_first(key: str, *, etag: str | None = None) -> BinaryIO:
        # The client PUTs again after consume took the ETag (its HEAD), before it reads the bytes.
        assert put(minted.upload.url, replacement).status_code == 200
        return opened(key, etag=etag)

    service.blobs.open = replaced_first  # type: ignore[method-assign]  # a test double replaces the method
    with pytest.raises(UploadChanged) as refused:
        service.consume(TEAM_A, [minted.ticket.id])
    service.blobs.open = opened  # type: ignore[method-assign]  # a test double replaces the method
    assert (refused.value.http_status, refused.value.code, refused.value.param) == (
        409,
        "upload_changed",
        "upload_ids[0]",
    )
    assert service.list_characters(TEAM_A).characters == ()
    assert not any(key.startswith(s3.location.character_prefix) for key in s3.object_keys())

    # The new bytes are consumed once classify has judged them.
    assert service.classify(TEAM_A, minted.ticket.id).ticket.state is State.CLASSIFIED
    [ref] = service.consume(TEAM_A, [minted.ticket.id]).character.refs
    assert ref.classification is not None
    assert (ref.classification.width, ref.classification.height) == (12, 9)
    assert read(service.blobs, ref.blob_key) == replacement
