"""The full flow against s3rver with real HTTP PUTs; the blob-store and signer contracts on S3."""

from __future__ import annotations

import datetime
import functools
import io
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs
import pytest
from anyio.from_thread import BlockingPortal
from botocore.credentials import Credentials, RefreshableCredentials
from botocore.validate import ParamValidator
from PIL import Image

from tests.s3.support import ACCESS_KEY, PNG, SECRET_KEY, Flavour, S3Server, direct_service, put, read
from tests.support import TEAM_A
from upload_tickets import (
    ManualClock,
    NotFound,
    PayloadTooLarge,
    State,
    StoreUnavailable,
    SystemClock,
    UnprocessableImage,
)
from upload_tickets.testing import START_US, BlobStoreContract, SignerContract, blocking, image_bytes, make_ticket
from upload_tickets_s3 import (
    CredentialsExpireTooSoon,
    S3BlobStore,
    S3Location,
    S3Signer,
    UploadUrlTooShort,
    apply_lifecycle_rule,
    lifecycle_rule,
)


def test_full_flow_with_real_puts(s3rver: S3Server) -> None:
    service = direct_service(s3rver.isolated())
    minted = service.mint(TEAM_A, PNG)
    assert minted.upload.headers == {"Content-Type": "image/png"}
    assert put(minted.upload.url, image_bytes("image/png")).status_code == 200
    classified = service.classify(TEAM_A, minted.ticket.id).ticket
    assert classified.state is State.CLASSIFIED
    assert classified.classification is not None
    assert classified.classification.width == 8
    character = service.consume(TEAM_A, [minted.ticket.id]).character
    assert character.refs[0].size == len(image_bytes("image/png"))
    assert character.refs[0].etag == classified.etag is not None


def test_the_server_refuses_tampered_and_mistyped_puts(s3rver: S3Server) -> None:
    minted = direct_service(s3rver).mint(TEAM_A, PNG)
    url = minted.upload.url
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    tampered = url.replace(signature, ("0" if signature[0] != "0" else "1") + signature[1:])
    assert put(tampered, image_bytes("image/png")).status_code == 403
    other_key = url.replace(minted.ticket.id, minted.ticket.id[:-1] + ("A" if minted.ticket.id[-1] != "A" else "B"))
    assert put(other_key, image_bytes("image/png")).status_code == 403
    longer = re.sub(r"X-Amz-Expires=\d+", "X-Amz-Expires=9000", url)
    assert longer != url
    assert put(longer, image_bytes("image/png")).status_code == 403
    assert put(url, image_bytes("image/jpeg"), content_type="image/jpeg").status_code == 403
    assert put(url, image_bytes("image/png")).status_code == 200


def test_the_server_refuses_an_expired_url(s3rver: S3Server) -> None:
    # Minted 20 minutes ago: its 15-minute URL is dead, whatever the signature says.
    clock = ManualClock(SystemClock().now_us() - 20 * 60 * 1_000_000)
    minted = direct_service(s3rver, clock=clock).mint(TEAM_A, PNG)
    response = put(minted.upload.url, image_bytes("image/png"))
    assert response.status_code == 403
    assert b"expired" in response.content.lower()


def test_oversize_and_wrong_bytes_are_refused_at_classify_and_consume(s3rver: S3Server) -> None:
    service = direct_service(s3rver.isolated(), max_bytes=1000)
    big = service.mint(TEAM_A, PNG)
    noisy = Image.frombytes("RGB", (200, 200), os.urandom(200 * 200 * 3))  # incompressible
    buffer = io.BytesIO()
    noisy.save(buffer, "PNG")
    assert len(buffer.getvalue()) > 1000
    assert put(big.upload.url, buffer.getvalue()).status_code == 200  # S3 cannot cap a presigned PUT
    with pytest.raises(PayloadTooLarge):
        service.classify(TEAM_A, big.ticket.id)
    with pytest.raises(PayloadTooLarge):
        service.consume(TEAM_A, [big.ticket.id])
    garbage = service.mint(TEAM_A, PNG)
    assert put(garbage.upload.url, b"not an image").status_code == 200
    with pytest.raises(UnprocessableImage):
        service.classify(TEAM_A, garbage.ticket.id)
    assert service.get(TEAM_A, garbage.ticket.id).state is State.UPLOADED


def test_sweep_deletes_the_objects(s3rver: S3Server) -> None:
    clock = ManualClock(SystemClock().now_us())
    service = direct_service(s3rver.isolated(), clock=clock)
    minted = service.mint(TEAM_A, PNG)
    assert put(minted.upload.url, image_bytes("image/png")).status_code == 200
    clock.advance(24 * 3600 * 1_000_000)
    assert service.sweep().blobs == 1
    assert service.blobs.head(minted.ticket.blob_key) is None


def test_promote_copies_the_bytes_and_their_type(s3rver: S3Server) -> None:
    blobs = s3rver.isolated().blobs()
    staged, owned = "staged/team_a/upl_promote", "characters/team_a/chr_promote/0"
    blobs.put(staged, [image_bytes("image/png")], max_bytes=1 << 20, content_type="image/png")
    checked = blobs.head(staged)
    assert checked is not None
    assert checked.etag is not None
    blobs.promote(staged, owned, etag=checked.etag)
    assert blobs.head(owned) == checked  # same size, type and (single-part MD5) ETag
    assert read(blobs, owned) == image_bytes("image/png")


def test_credentials_expiring_before_the_url_refuse_the_mint(s3rver: S3Server) -> None:
    def metadata(minutes: int) -> dict[str, str]:
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=minutes)
        return {"access_key": ACCESS_KEY, "secret_key": SECRET_KEY, "token": "t", "expiry_time": expiry.isoformat()}

    for minutes, refused in ((5, True), (120, False)):
        credentials = RefreshableCredentials.create_from_metadata(
            metadata(minutes), refresh_using=functools.partial(metadata, minutes), method="test"
        )
        signer = S3Signer(s3rver.location, credentials=credentials)
        ticket = make_ticket(now_us=SystemClock().now_us())
        if refused:
            with pytest.raises(CredentialsExpireTooSoon) as caught:
                signer.sign_put(ticket)
            assert caught.value.http_status == 503
        else:
            assert "X-Amz-Security-Token=t" in signer.sign_put(ticket).url


def test_a_url_that_would_carry_x_amz_expires_0_is_refused() -> None:
    signer = S3Signer(S3Location(bucket="uploads", addressing="path"), credentials=Credentials("key", "secret"))
    minted = make_ticket(now_us=START_US + 100_000)  # 0.1 s into a whole second

    def lasting(lifetime_us: int) -> str:
        return signer.sign_put(attrs.evolve(minted, url_expires_at=minted.created_at + lifetime_us)).url

    # URLs carry whole seconds from the second they were signed in: these would end in it.
    for lifetime_us in (-1, 0, 1, 899_999):
        with pytest.raises(UploadUrlTooShort) as caught:
            lasting(lifetime_us)
        assert (caught.value.http_status, caught.value.code) == (500, "upload_url_too_short")
        assert "at least one second" in caught.value.message
    assert "&X-Amz-Expires=1&" in lasting(900_000)
    assert "&X-Amz-Expires=1&" in lasting(1_000_000)


def test_an_unreachable_endpoint_is_store_unavailable(flavour: Flavour) -> None:
    location = S3Location(bucket="uploads", endpoint_url="http://127.0.0.1:1", addressing="path")
    blobs = flavour.blobs(S3Server("http://127.0.0.1:1", location))
    with pytest.raises(StoreUnavailable):
        blobs.head("upl_anything")
    with pytest.raises(StoreUnavailable):
        blobs.open("upl_anything")
    with pytest.raises(StoreUnavailable):
        blobs.open("upl_anything", etag='"d41d8cd98f00b204e9800998ecf8427e"')
    with pytest.raises(StoreUnavailable):
        blobs.promote("staged/t/upl_anything", "characters/t/chr_anything/0", etag=None)
    with pytest.raises(StoreUnavailable):
        blobs.put("upl_anything", [b"x"], max_bytes=10, content_type="image/png")


def test_the_server_refuses_requests_signed_with_a_wrong_secret(s3rver: S3Server, flavour: Flavour) -> None:
    server = s3rver.isolated()
    staged, owned = "staged/t/upl_signed", "characters/t/chr_signed/0"
    flavour.blobs(server).put(staged, [b"bytes"], max_bytes=10, content_type="image/png")
    flavour.statuses.clear()
    forged = flavour.blobs(server, credentials=Credentials(ACCESS_KEY, SECRET_KEY + "-wrong"))
    with pytest.raises(StoreUnavailable, match=r"HTTP 403 SignatureDoesNotMatch: .*secret key does not match"):
        forged.put(staged, [b"other bytes"], max_bytes=20, content_type="image/png")
    with pytest.raises(StoreUnavailable, match=r"HTTP 403 SignatureDoesNotMatch"):
        forged.open(staged)
    # A HEAD answer has no body to name the error: the status says it.
    with pytest.raises(StoreUnavailable, match=r"HTTP 403: Forbidden \(check the access key, the secret key"):
        forged.head(staged)
    with pytest.raises(StoreUnavailable) as caught:
        forged.promote(staged, owned, etag=None)
    assert caught.value.http_status == 503
    with pytest.raises(StoreUnavailable):
        forged.delete(staged)
    assert flavour.statuses == [403] * 5  # once each (promote and delete stop at their HEAD): never retried
    honest = flavour.blobs(server)
    assert read(honest, staged) == b"bytes"
    assert honest.head(owned) is None


def test_missing_objects(s3rver: S3Server) -> None:
    blobs = s3rver.isolated().blobs()
    assert blobs.head("upl_missing") is None
    with pytest.raises(NotFound):
        blobs.open("upl_missing")


def test_lifecycle_rule_is_a_valid_s3_lifecycle_configuration(s3rver: S3Server) -> None:
    rule = lifecycle_rule(s3rver.location, days=2)
    assert rule["Filter"] == {"Prefix": "uploads/"}
    assert rule["Expiration"] == {"Days": 2}
    # s3rver does not implement lifecycle configuration, so the rule is checked against
    # the S3 API model botocore validates requests with.
    operation = s3rver.client().meta.service_model.operation_model("PutBucketLifecycleConfiguration")
    report = ParamValidator().validate(
        {"Bucket": "uploads", "LifecycleConfiguration": {"Rules": [rule]}}, operation.input_shape
    )
    assert not report.has_errors(), report.generate_report()


def test_applying_the_rule_maps_server_refusals_to_store_unavailable(s3rver: S3Server) -> None:
    with pytest.raises(StoreUnavailable, match="NotImplemented"):
        apply_lifecycle_rule(s3rver.client(), s3rver.location, days=2)


class TestS3BlobStore(BlobStoreContract):
    @pytest.fixture
    def blobs(self, s3rver: S3Server) -> S3BlobStore:
        return s3rver.isolated().blobs()


class TestAsyncS3BlobStore(BlobStoreContract):
    @pytest.fixture
    def blobs(self, s3rver: S3Server, portal: BlockingPortal) -> Iterator[Any]:
        store = s3rver.isolated().async_blobs()  # on an HTTP client of its own, closed with the store
        yield blocking(store, portal)
        portal.call(store.aclose)
        assert store.client.is_closed


class TestS3Signer(SignerContract):
    @pytest.fixture
    def signer(self, s3rver: S3Server) -> S3Signer:
        return S3Signer(s3rver.location, credentials=s3rver.credentials())
