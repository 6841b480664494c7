"""The service facade, scenario by scenario."""

from __future__ import annotations

import io
import threading
from urllib.parse import urlsplit

import pytest
from PIL import Image

from tests.support import TEAM_A, TEAM_B
from upload_tickets import (
    AlreadyConsumed,
    HmacSigner,
    IdempotencyConflict,
    ManualClock,
    MemoryBlobStore,
    MemoryRateLimiter,
    MemoryTicketStore,
    MintRequest,
    NotFound,
    NotUploaded,
    PayloadTooLarge,
    RateLimited,
    State,
    Team,
    TicketExpired,
    UnprocessableImage,
    UnsupportedMediaType,
    UploadTickets,
    UploadUrlExpired,
)
from upload_tickets.testing import image_bytes

S = 1_000_000
PNG = MintRequest(filename="front.png", extension="png", content_type="image/png")


def _upload(service: UploadTickets, url: str, data: bytes, content_type: str | None = "image/png") -> None:
    parts = urlsplit(url)
    upload_id = parts.path.rsplit("/", 1)[1]
    service.receive(upload_id, parts.query, content_type=content_type, content_length=len(data), body=[data])


def _uploaded(service: UploadTickets, data: bytes | None = None, team: Team = TEAM_A) -> str:
    result = service.mint(team, PNG)
    _upload(service, result.upload.url, data if data is not None else image_bytes("image/png"))
    return result.ticket.id


def test_mint_returns_a_signed_put_for_the_declared_type(service: UploadTickets, clock: ManualClock) -> None:
    result = service.mint(TEAM_A, PNG)
    assert result.ticket.id.startswith("upl_")
    assert len(result.ticket.id) == 30
    assert result.upload.headers == {"Content-Type": "image/png"}
    assert result.upload.expires_at == (clock.now_us() + 15 * 60 * S) // S * S
    assert result.ticket.expires_at == clock.now_us() + 24 * 3600 * S
    assert result.rate is not None
    assert result.rate.remaining == 59


def test_idempotency_same_body_same_ticket_different_body_conflict(service: UploadTickets) -> None:
    first = service.mint(TEAM_A, PNG, idempotency_key="abc")
    again = service.mint(TEAM_A, PNG, idempotency_key="abc")
    assert again.ticket == first.ticket
    assert again.upload == first.upload
    assert again.replayed
    other_team = service.mint(TEAM_B, PNG, idempotency_key="abc")
    assert other_team.ticket.id != first.ticket.id
    with pytest.raises(IdempotencyConflict):
        service.mint(TEAM_A, MintRequest("other.png", "png", "image/png"), idempotency_key="abc")


def test_rate_limit_refuses_the_sixty_first_mint(service: UploadTickets) -> None:
    for _ in range(60):
        service.mint(TEAM_A, PNG)
    with pytest.raises(RateLimited) as caught:
        service.mint(TEAM_A, PNG)
    assert caught.value.decision.retry_after_us == 2 * S
    assert service.mint(TEAM_B, PNG).ticket.team == "team_b"
    assert len(service.store) == 61  # type: ignore[arg-type]  # the memory store is sized; the protocol is not


def test_put_without_content_type_is_taken_as_the_signed_one(service: UploadTickets) -> None:
    result = service.mint(TEAM_A, PNG)
    _upload(service, result.upload.url, image_bytes("image/png"), content_type=None)
    ticket = service.get(TEAM_A, result.ticket.id)
    assert ticket.state is State.UPLOADED
    assert ticket.size == len(image_bytes("image/png"))


def test_put_with_another_content_type_is_refused(service: UploadTickets) -> None:
    result = service.mint(TEAM_A, PNG)
    with pytest.raises(UnsupportedMediaType):
        _upload(service, result.upload.url, b"x", content_type="image/jpeg")
    _upload(service, result.upload.url, image_bytes("image/png"), content_type="IMAGE/PNG; charset=binary")


def test_oversize_put_is_refused_and_stores_nothing(clock: ManualClock, signer: HmacSigner) -> None:
    blobs = MemoryBlobStore()
    service = UploadTickets(
        store=MemoryTicketStore(),
        limiter=MemoryRateLimiter(clock),
        signer=signer,
        blobs=blobs,
        clock=clock,
        max_upload_bytes=100,
    )
    result = service.mint(TEAM_A, PNG)
    with pytest.raises(PayloadTooLarge):
        _upload(service, result.upload.url, b"x" * 101)
    parts = urlsplit(result.upload.url)
    with pytest.raises(PayloadTooLarge):
        service.receive(result.ticket.id, parts.query, content_type=None, content_length=None, body=[b"x" * 60] * 2)
    assert blobs.keys() == set()
    assert service.get(TEAM_A, result.ticket.id).state is State.MINTED


def test_put_after_the_url_ttl_is_refused(service: UploadTickets, clock: ManualClock) -> None:
    result = service.mint(TEAM_A, PNG)
    clock.advance(15 * 60 * S)
    with pytest.raises(UploadUrlExpired):
        _upload(service, result.upload.url, image_bytes("image/png"))


def test_reupload_replaces_bytes_drops_classification_and_frees_old_blob(service: UploadTickets) -> None:
    result = service.mint(TEAM_A, PNG)
    _upload(service, result.upload.url, image_bytes("image/png"))
    first_key = service.get(TEAM_A, result.ticket.id).blob_key
    service.classify(TEAM_A, result.ticket.id)
    bigger = io.BytesIO()
    Image.new("RGB", (30, 20)).save(bigger, "PNG")
    _upload(service, result.upload.url, bigger.getvalue())
    ticket = service.get(TEAM_A, result.ticket.id)
    assert ticket.state is State.UPLOADED
    assert ticket.classification is None
    assert isinstance(service.blobs, MemoryBlobStore)
    assert service.blobs.keys() == {ticket.blob_key}
    assert first_key != ticket.blob_key
    assert service.classify(TEAM_A, ticket.id).ticket.classification is not None
    reclassified = service.get(TEAM_A, ticket.id).classification
    assert reclassified is not None
    assert reclassified.width == 30


def test_classify_reads_type_dimensions_and_an_honest_pose(service: UploadTickets) -> None:
    for content_type in ("image/png", "image/jpeg", "image/webp"):
        extension = content_type.split("/")[1]
        result = service.mint(TEAM_A, MintRequest(f"f.{extension}", extension, content_type))
        _upload(service, result.upload.url, image_bytes(content_type), content_type)
        classification = service.classify(TEAM_A, result.ticket.id).ticket.classification
        assert classification is not None
        assert (classification.detected_type, classification.width, classification.height) == (content_type, 8, 6)
        assert classification.pose == "unknown"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"definitely not an image", "image_unreadable"),
        (image_bytes("image/jpeg"), "image_type_mismatch"),
        (image_bytes("image/png")[:40], "image_unreadable"),
    ],
)
def test_classify_refuses_bytes_that_are_not_the_declared_type(service: UploadTickets, data: bytes, code: str) -> None:
    upload_id = _uploaded(service, data)
    with pytest.raises(UnprocessableImage) as caught:
        service.classify(TEAM_A, upload_id)
    assert caught.value.code == code
    assert service.get(TEAM_A, upload_id).state is State.UPLOADED


def test_classify_refuses_a_decompression_bomb_without_decoding(service: UploadTickets) -> None:
    bomb = io.BytesIO()
    Image.new("1", (9_000, 9_000)).save(bomb, "PNG")  # 81 Mpx in a few KiB: under Pillow's guard, over ours
    assert len(bomb.getvalue()) < 200_000
    upload_id = _uploaded(service, bomb.getvalue())
    with pytest.raises(UnprocessableImage) as caught:
        service.classify(TEAM_A, upload_id)
    assert caught.value.code == "image_too_large"


def test_classify_refuses_an_image_far_past_pillows_own_guard(service: UploadTickets) -> None:
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, "PNG")
    upload_id = _uploaded(service, bomb.getvalue())
    with pytest.raises(UnprocessableImage) as caught:
        service.classify(TEAM_A, upload_id)
    assert caught.value.code == "image_too_large"


def test_classify_before_upload_is_a_conflict(service: UploadTickets) -> None:
    with pytest.raises(NotUploaded):
        service.classify(TEAM_A, service.mint(TEAM_A, PNG).ticket.id)


def test_consume_is_all_or_nothing(service: UploadTickets) -> None:
    ready = [_uploaded(service) for _ in range(5)]
    not_uploaded = service.mint(TEAM_A, PNG).ticket.id
    with pytest.raises(NotUploaded) as caught:
        service.consume(TEAM_A, [*ready, not_uploaded])
    assert caught.value.param == "upload_ids[5]"
    assert {service.get(TEAM_A, i).state for i in ready} == {State.UPLOADED}
    character = service.consume(TEAM_A, ready).character
    assert character.id.startswith("chr_")
    assert character.upload_ids == tuple(ready)
    with pytest.raises(AlreadyConsumed):
        service.consume(TEAM_A, ready[:1])


def test_put_after_consume_is_refused(service: UploadTickets) -> None:
    result = service.mint(TEAM_A, PNG)
    _upload(service, result.upload.url, image_bytes("image/png"))
    service.consume(TEAM_A, [result.ticket.id])
    with pytest.raises(AlreadyConsumed):
        _upload(service, result.upload.url, image_bytes("image/png"))


def test_another_teams_id_is_not_found_never_forbidden(service: UploadTickets) -> None:
    theirs = _uploaded(service, team=TEAM_B)
    with pytest.raises(NotFound):
        service.get(TEAM_A, theirs)
    with pytest.raises(NotFound):
        service.classify(TEAM_A, theirs)
    with pytest.raises(NotFound) as caught:
        service.consume(TEAM_A, [_uploaded(service), theirs])
    assert caught.value.param == "upload_ids[1]"


def test_expired_ticket_is_gone_for_every_operation_then_swept(service: UploadTickets, clock: ManualClock) -> None:
    upload_id = _uploaded(service)
    never_uploaded = service.mint(TEAM_A, PNG).ticket.id
    clock.advance(24 * 3600 * S)
    with pytest.raises(TicketExpired):
        service.consume(TEAM_A, [upload_id])
    with pytest.raises(TicketExpired):
        service.classify(TEAM_A, upload_id)
    report = service.sweep()
    assert (report.tickets, report.blobs) == (2, 1)
    assert isinstance(service.blobs, MemoryBlobStore)
    assert service.blobs.keys() == set()
    with pytest.raises(NotFound):
        service.get(TEAM_A, never_uploaded)
    assert service.sweep().tickets == 0


def test_racing_consumers_have_exactly_one_winner(service: UploadTickets) -> None:
    ids = [_uploaded(service) for _ in range(6)]
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def race() -> None:
        barrier.wait()
        try:
            outcomes.append(service.consume(TEAM_A, ids).character.id)
        except AlreadyConsumed:
            outcomes.append("lost")

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if o != "lost"]
    assert len(outcomes) == 8
    assert len(winners) == 1
    assert {service.get(TEAM_A, i).character_id for i in ids} == set(winners)


def test_bytes_put_straight_to_storage_are_confirmed_by_head(service: UploadTickets) -> None:
    # As with S3: the client PUT the bytes to the ticket's blob key; no upload host saw them.
    result = service.mint(TEAM_A, PNG)
    service.blobs.put(result.ticket.blob_key, [image_bytes("image/png")], max_bytes=10**6, content_type="image/png")
    assert service.classify(TEAM_A, result.ticket.id).ticket.state is State.CLASSIFIED
    wrong = service.mint(TEAM_A, PNG)
    service.blobs.put(wrong.ticket.blob_key, [b"x"], max_bytes=10**6, content_type="image/jpeg")
    with pytest.raises(UnsupportedMediaType):
        service.consume(TEAM_A, [wrong.ticket.id])


def test_receive_needs_a_verifying_signer(clock: ManualClock) -> None:
    class PresignOnly:
        def sign_put(self, ticket: object) -> object:
            raise AssertionError("not called")

    service = UploadTickets(
        store=MemoryTicketStore(),
        limiter=MemoryRateLimiter(clock),
        signer=PresignOnly(),  # type: ignore[arg-type]  # deliberately not a full Signer
        blobs=MemoryBlobStore(),
        clock=clock,
    )
    with pytest.raises(NotFound):
        service.receive("upl_01HXMQ7Z3K8Y2NABCDEFGHJKMR", "", content_type=None, content_length=None, body=[])


def test_mint_many_charges_each_request(service: UploadTickets) -> None:
    results = service.mint_many(TEAM_A, [PNG] * 61)
    minted = [r for r in results if not isinstance(r, RateLimited)]
    assert len(minted) == 60
    assert isinstance(results[60], RateLimited)
    assert len({r.ticket.id for r in minted}) == 60
    assert all(service.get(TEAM_A, r.ticket.id).state is State.MINTED for r in minted)
