"""How the blob store reads S3's answers, on canned ones (``httpx.MockTransport``; the async twin is the same source).

Transport errors, 5xx and throttling are tried again (3 attempts in all), a CopyObject
that answers 200 with an error document too; any other refusal is reported at once,
redirects included, as ``StoreUnavailable``.
"""

from __future__ import annotations

import hashlib

import httpx
import pytest
from botocore.credentials import Credentials

from upload_tickets import BlobInfo, StoreUnavailable
from upload_tickets_s3 import S3BlobStore, S3Location

LOCATION = S3Location(bucket="uploads", endpoint_url="http://s3.test", addressing="path")
SLOW_DOWN = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
COPY_FAILED = b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code></Error>'
COPIED = b"<CopyObjectResult><ETag>&quot;e&quot;</ETag></CopyObjectResult>"
FOUND = {"content-length": "5", "content-type": "image/png", "etag": '"e"'}

Answer = httpx.Response | Exception


def _store(answers: list[Answer]) -> tuple[S3BlobStore, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        next_answer = answers.pop(0)
        if isinstance(next_answer, Exception):
            raise next_answer
        return next_answer

    client = httpx.Client(transport=httpx.MockTransport(answer))
    return S3BlobStore(LOCATION, credentials=Credentials("key", "secret"), client=client), sent


def test_throttling_and_transport_errors_are_tried_again() -> None:
    found = httpx.Response(200, headers=FOUND)
    blobs, sent = _store([httpx.Response(503, content=SLOW_DOWN), httpx.ConnectError("refused"), found])
    assert blobs.head("upl_x") == BlobInfo(size=5, content_type="image/png", etag='"e"')
    assert len(sent) == 3


def test_three_failed_attempts_are_store_unavailable() -> None:
    blobs, sent = _store([httpx.Response(500, content=b"<Error><Code>InternalError</Code></Error>") for _ in range(3)])
    with pytest.raises(StoreUnavailable, match="S3 is unavailable: HTTP 500 InternalError"):
        blobs.head("upl_x")
    assert len(sent) == 3


def test_a_copy_failing_after_its_200_is_tried_again() -> None:
    blobs, sent = _store(
        [httpx.Response(404), httpx.Response(200, content=COPY_FAILED), httpx.Response(200, content=COPIED)]
    )
    blobs.promote("staged/t/upl_x", "characters/t/chr_x/0", etag='"e"')
    assert [request.method for request in sent] == ["HEAD", "PUT", "PUT"]
    assert sent[1].headers["x-amz-copy-source"] == "uploads/uploads/staged/t/upl_x"
    assert sent[1].headers["x-amz-copy-source-if-match"] == '"e"'


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (httpx.Response(301, content=b"<Error><Code>PermanentRedirect</Code></Error>"), "HTTP 301 PermanentRedirect"),
        (httpx.Response(400, content=b"<Error><Code>Bad</Code><Message>a &amp; b</Message></Error>"), "400 Bad: a & b"),
        (httpx.Response(403, content=b"<Error><Code>InvalidAccessKeyId</Code></Error>"), "knows no such access key"),
    ],
)
def test_other_refusals_are_reported_at_once(answer: httpx.Response, message: str) -> None:
    blobs, sent = _store([answer])
    with pytest.raises(StoreUnavailable, match=message):
        blobs.open("upl_x")
    assert len(sent) == 1


def test_the_body_is_signed_by_its_hash() -> None:
    blobs, sent = _store([httpx.Response(200)])
    assert blobs.put("upl_x", [b"ab", b"c"], max_bytes=3, content_type="image/png") == 3
    (request,) = sent
    assert request.content == b"abc"
    assert request.headers["x-amz-content-sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date," in request.headers["authorization"]
