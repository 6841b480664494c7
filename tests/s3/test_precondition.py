"""Only the bytes that were checked are copied or read: ``x-amz-copy-source-if-match`` and ``If-Match``.

s3rver ignores both headers (it copies and serves whatever is there), so the
preconditions are proven on LocalStack's S3, which honours them as AWS does; the
blob-store contract runs there too. On s3rver, ``open`` still refuses replaced bytes by
the ETag its GET answers with. The blob-store tests run on both flavours (``flavour``).
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from tests.s3.support import PNG, Flavour, S3Server, direct_service, put, read
from tests.support import TEAM_A
from upload_tickets import ManualClock, NotFound, SystemClock, UploadChanged
from upload_tickets.protocols import BlobStore
from upload_tickets.testing import BlobStoreContract, image_bytes

STAGED, OWNED = "staged/team_a/upl_checked", "characters/team_a/chr_checked/0"


def _checked_then_replaced(blobs: BlobStore) -> str:
    """Stage bytes, take their ETag (as a confirm does), then replace them (a second PUT); the stale ETag."""
    blobs.put(STAGED, [b"checked bytes"], max_bytes=100, content_type="image/png")
    info = blobs.head(STAGED)
    assert info is not None
    assert info.etag is not None
    blobs.put(STAGED, [b"replaced bytes"], max_bytes=100, content_type="image/png")
    return info.etag


@pytest.mark.parametrize(("server", "honoured"), [("s3rver", False), ("localstack", True)])
def test_which_servers_honour_copy_source_if_match(request: pytest.FixtureRequest, server: str, honoured: bool) -> None:
    s3: S3Server = request.getfixturevalue(server).isolated()
    stale = _checked_then_replaced(s3.blobs())
    location, client = s3.location, s3.client()
    source = {"Bucket": location.bucket, "Key": location.object_key(STAGED)}

    def copy() -> None:
        client.copy_object(
            Bucket=location.bucket, Key=location.object_key(OWNED), CopySource=source, CopySourceIfMatch=stale
        )

    if honoured:
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            copy()
        assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    else:
        # s3rver copies the replaced bytes regardless: it cannot prove the precondition.
        copy()
        assert read(s3.blobs(), OWNED) == b"replaced bytes"


@pytest.mark.parametrize(("server", "honoured"), [("s3rver", False), ("localstack", True)])
def test_which_servers_honour_if_match_on_get(request: pytest.FixtureRequest, server: str, honoured: bool) -> None:
    s3: S3Server = request.getfixturevalue(server).isolated()
    stale = _checked_then_replaced(s3.blobs())

    def get() -> dict[str, Any]:
        answer: dict[str, Any] = s3.client().get_object(
            Bucket=s3.location.bucket, Key=s3.location.object_key(STAGED), IfMatch=stale
        )
        return answer

    if honoured:
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            get()
        assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    else:
        # s3rver serves the replaced bytes regardless, under their own (new) ETag.
        answer = get()
        assert answer["Body"].read() == b"replaced bytes"
        assert answer["ETag"] != stale


@pytest.mark.parametrize(("server", "get_status"), [("s3rver", 200), ("localstack", 412)])
def test_open_refuses_bytes_replaced_since_they_were_checked(
    request: pytest.FixtureRequest, flavour: Flavour, server: str, get_status: int
) -> None:
    blobs = flavour.blobs(request.getfixturevalue(server).isolated())
    stale = _checked_then_replaced(blobs)
    flavour.statuses.clear()
    with pytest.raises(UploadChanged) as refused:
        blobs.open(STAGED, etag=stale)
    assert (refused.value.http_status, refused.value.code) == (409, "upload_changed")
    # LocalStack refuses the GET itself (412); s3rver's 200 is refused by the ETag it carries.
    assert flavour.statuses == [get_status]

    current = blobs.head(STAGED)
    assert current is not None
    with blobs.open(STAGED, etag=current.etag) as stream:
        assert stream.read() == b"replaced bytes"
    with pytest.raises(NotFound):
        blobs.open("staged/team_a/upl_never_put", etag=stale)


def test_promote_refuses_bytes_replaced_since_they_were_checked(localstack: S3Server, flavour: Flavour) -> None:
    blobs = flavour.blobs(localstack.isolated())
    stale = _checked_then_replaced(blobs)
    with pytest.raises(UploadChanged) as refused:
        blobs.promote(STAGED, OWNED, etag=stale)
    assert (refused.value.http_status, refused.value.code) == (409, "upload_changed")
    assert blobs.head(OWNED) is None

    current = blobs.head(STAGED)
    assert current is not None
    blobs.promote(STAGED, OWNED, etag=current.etag)
    assert read(blobs, OWNED) == b"replaced bytes"
    assert blobs.head(OWNED) == current  # bytes, type and ETag copied


def test_a_copy_made_already_stands_whatever_the_staged_object_became(localstack: S3Server, flavour: Flavour) -> None:
    blobs = flavour.blobs(localstack.isolated())
    blobs.put(STAGED, [b"checked bytes"], max_bytes=100, content_type="image/png")
    info = blobs.head(STAGED)
    assert info is not None
    blobs.promote(STAGED, OWNED, etag=info.etag)
    # A PUT replayed after the copy (the URL is live for 15 minutes) changes nothing owned.
    blobs.put(STAGED, [b"replayed bytes"], max_bytes=100, content_type="image/png")
    blobs.promote(STAGED, OWNED, etag=info.etag)
    assert read(blobs, OWNED) == b"checked bytes"


def test_a_replacement_racing_the_copy_does_not_stop_the_sweep(localstack: S3Server) -> None:
    clock = ManualClock(SystemClock().now_us())
    service = direct_service(localstack.isolated(), clock=clock)
    raced, unrelated = service.mint(TEAM_A, PNG), service.mint(TEAM_A, PNG)
    for minted in (raced, unrelated):
        assert put(minted.upload.url, image_bytes("image/png")).status_code == 200
    service.classify(TEAM_A, raced.ticket.id)
    copy = service.blobs.promote

    def replaced_first(staged_key: str, key: str, *, etag: str | None) -> None:
        # The client PUTs again after consume checked the ETag, before the copy.
        assert put(raced.upload.url, b"\0not an image" * 500).status_code == 200
        copy(staged_key, key, etag=etag)

    service.blobs.promote = replaced_first  # type: ignore[method-assign]  # a test double replaces the method
    with pytest.raises(UploadChanged):
        service.consume(TEAM_A, [raced.ticket.id])
    service.blobs.promote = copy  # type: ignore[method-assign]  # a test double replaces the method
    clock.advance(25 * 3600 * 1_000_000)
    report = service.sweep()
    assert service.blobs.head(unrelated.ticket.blob_key) is None
    assert any("replaced" in part for part in report.skipped)


class TestLocalStackBlobStore(BlobStoreContract):
    @pytest.fixture
    def blobs(self, localstack: S3Server, flavour: Flavour) -> Any:
        return flavour.blobs(localstack.isolated())
