"""Our SigV4 is byte-identical to botocore's: presigned URLs (generate_presigned_url), signed headers (S3SigV4Auth)."""

from __future__ import annotations

import datetime
import hashlib
from typing import Literal
from unittest import mock

import attrs
import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from upload_tickets.service import staged_key
from upload_tickets.testing import make_ticket
from upload_tickets_s3 import S3Location, S3Signer
from upload_tickets_s3._http import SignedRequests

ENDPOINTS = [
    None,
    "http://127.0.0.1:4599",
    "https://minio.example.test:9000",
    "https://storage.example.test",
    "http://localhost:80",
    "https://objects.example.test:443",
    "http://[::1]:9000",
]
REGIONS = ["us-east-1", "eu-west-3", "ap-southeast-2", "us-gov-west-1", "auto"]
CONTENT_TYPES = ["image/jpeg", "image/png", "image/webp"]


@settings(max_examples=150, deadline=None)
@given(
    access_key=st.from_regex(r"[A-Z0-9]{16,20}", fullmatch=True),
    secret_key=st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/", min_size=20, max_size=40
    ),
    token=st.none() | st.text(alphabet="abcdefXYZ0123456789+/=", min_size=10, max_size=120),
    region=st.sampled_from(REGIONS),
    endpoint=st.sampled_from(ENDPOINTS),
    addressing_and_bucket=st.tuples(
        st.sampled_from(["path", "virtual"]), st.from_regex(r"[a-z0-9][a-z0-9-]{2,20}[a-z0-9]", fullmatch=True)
    )
    | st.just(("path", "my.dotted.bucket")),
    prefix=st.sampled_from(["uploads/", "uploads", "a b/", "ünïcode/", "x+y=z/", "deep/er/"]),
    content_type=st.sampled_from(CONTENT_TYPES),
    created_s=st.integers(1_700_000_000, 1_900_000_000),
    ttl_s=st.integers(1, 7 * 24 * 3600),
)
def test_fast_presign_is_byte_identical_to_botocore(
    access_key: str,
    secret_key: str,
    token: str | None,
    region: str,
    endpoint: str | None,
    addressing_and_bucket: tuple[Literal["path", "virtual"], str],
    prefix: str,
    content_type: str,
    created_s: int,
    ttl_s: int,
) -> None:
    addressing, bucket = addressing_and_bucket
    location = S3Location(bucket=bucket, region=region, endpoint_url=endpoint, addressing=addressing, prefix=prefix)
    base = make_ticket(now_us=created_s * 1_000_000 + 123_456)
    ticket = attrs.evolve(
        base,
        content_type=content_type,
        url_expires_at=(created_s + ttl_s) * 1_000_000,
        blob_key=staged_key(base.team, base.id),
    )
    ours = S3Signer(location, credentials=Credentials(access_key, secret_key, token)).sign_put(ticket).url

    client = boto3.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=token,
        config=Config(signature_version="s3v4", s3={"addressing_style": addressing}),
    )
    # botocore signs "now"; ours signs at the ticket's mint time. Pin botocore's clock to it.
    minted = datetime.datetime.fromtimestamp(created_s, datetime.UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=minted):
        theirs = client.generate_presigned_url(
            "put_object",
            Params={"Bucket": bucket, "Key": location.object_key(ticket.blob_key), "ContentType": content_type},
            ExpiresIn=ttl_s,
        )
    assert ours == theirs


def test_dotted_buckets_cannot_be_virtual_hosted() -> None:
    with pytest.raises(ValueError, match="addressing='path'"):
        S3Location(bucket="my.dotted.bucket", addressing="virtual")


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_upload_headers_are_read_only_and_shared(content_type: str) -> None:
    signer = S3Signer(S3Location(bucket="uploads", addressing="path"), credentials=Credentials("key", "secret"))
    first, second = (signer.sign_put(attrs.evolve(make_ticket(), content_type=content_type)).headers for _ in range(2))
    assert first == {"Content-Type": content_type}
    assert first is second
    with pytest.raises(TypeError):
        first["Content-Type"] = "text/html"  # type: ignore[index]  # writing to a read-only mapping on purpose
    with pytest.raises(TypeError):
        first["X-Extra"] = "1"  # type: ignore[index]  # writing to a read-only mapping on purpose
    with pytest.raises(AttributeError):
        first.clear()  # type: ignore[attr-defined]  # writing to a read-only mapping on purpose
    assert second == {"Content-Type": content_type}


# Path segments as S3 keys hold them; never "." or "..", which no HTTP client sends as they are.
_SEGMENT = st.text(alphabet=st.characters(exclude_characters="/", codec="utf-8"), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    access_key=st.from_regex(r"[A-Z0-9]{16,20}", fullmatch=True),
    secret_key=st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/", min_size=20, max_size=40
    ),
    token=st.none() | st.text(alphabet="abcdefXYZ0123456789+/=", min_size=10, max_size=120),
    region=st.sampled_from(REGIONS),
    endpoint=st.sampled_from(ENDPOINTS),
    addressing_and_bucket=st.tuples(
        st.sampled_from(["path", "virtual"]), st.from_regex(r"[a-z0-9][a-z0-9-]{2,20}[a-z0-9]", fullmatch=True)
    )
    | st.just(("path", "my.dotted.bucket")),
    prefix=st.sampled_from(["uploads/", "a b/", "ünïcode/", "x+y=z/", "deep/er/"]),
    segments=st.lists(_SEGMENT.filter(lambda s: s not in (".", "..")), min_size=1, max_size=4),
    request=st.sampled_from(["HEAD", "GET", "GET if-match", "PUT", "COPY", "COPY if-match", "DELETE"]),
    content_type=st.sampled_from([*CONTENT_TYPES, "image/png;  charset=x ", "application/octet-stream"]),
    body=st.binary(min_size=1, max_size=2048),
    signed_s=st.integers(1_700_000_000, 1_900_000_000),
)
def test_header_signing_is_byte_identical_to_botocore(
    access_key: str,
    secret_key: str,
    token: str | None,
    region: str,
    endpoint: str | None,
    addressing_and_bucket: tuple[Literal["path", "virtual"], str],
    prefix: str,
    segments: list[str],
    request: str,
    content_type: str,
    body: bytes,
    signed_s: int,
) -> None:
    addressing, bucket = addressing_and_bucket
    location = S3Location(bucket=bucket, region=region, endpoint_url=endpoint, addressing=addressing, prefix=prefix)
    key = "staged/" + "/".join(segments)
    etag = f'"{hashlib.md5(body).hexdigest()}"'  # an ETag, not a security hash
    requests = SignedRequests(location)
    headers: dict[str, str] = {}
    method, _, condition = request.partition(" ")
    if method == "GET" and condition:
        headers["if-match"] = etag
    if method == "COPY":
        method = "PUT"
        headers |= {"x-amz-copy-source": requests.copy_source("staged/other"), "x-amz-metadata-directive": "COPY"}
        if condition:
            headers["x-amz-copy-source-if-match"] = etag
    content = body if method == "PUT" and not headers else b""
    if content:
        headers["content-type"] = content_type
    frozen = Credentials(access_key, secret_key, token).get_frozen_credentials()
    with mock.patch("time.time", return_value=signed_s + 0.5):
        ours = requests.build(method, key, frozen, headers, content)

    # botocore signs what goes on the wire: httpx's URL and the headers we chose, no others
    # (the host it derives from the URL, as we do).
    theirs = AWSRequest(method=method, url=str(ours.url), headers=headers, data=content)
    signed_at = datetime.datetime.fromtimestamp(signed_s, datetime.UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=signed_at):
        S3SigV4Auth(Credentials(access_key, secret_key, token), "s3", region).add_auth(theirs)
    added = ["authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"]
    assert {name: ours.headers.get(name) for name in added} == {name: theirs.headers.get(name) for name in added}
    assert ours.content == content
