"""What both flavours of the S3 blob store share: credentials, signed requests, S3's error answers, retries."""

from __future__ import annotations

import hashlib
import html
import re
import time
from collections.abc import Mapping
from urllib.parse import quote

import botocore.credentials
import botocore.session
import httpx

from upload_tickets import StoreUnavailable
from upload_tickets.backend_kit import RetryPolicy, map_errors
from upload_tickets_s3._location import S3Location
from upload_tickets_s3._sigv4 import EMPTY_SHA256, amz_date, host_header, sign_headers

#: Connecting fails fast; a copy of a large object may take a while to answer.
TIMEOUT = httpx.Timeout(60.0, connect=10.0)

_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_PRECONDITION_FAILED = frozenset({"412", "PreconditionFailed"})
_THROTTLED = frozenset({"SlowDown", "RequestTimeout"})
_HINTS = {
    "SignatureDoesNotMatch": "the secret key does not match the access key",
    "InvalidAccessKeyId": "the endpoint knows no such access key",
    "403": "check the access key, the secret key and the bucket's policy",
}
_CODE = re.compile(rb"<Code>([^<]*)</Code>")
_MESSAGE = re.compile(rb"<Message>([^<]*)</Message>")
# CopyObject may answer 200 and then fail: the error is the body, not the status.
_ERROR_BODY = re.compile(rb"\A\s*(?:<\?xml[^>]*\?>\s*)?<Error>")


class S3Error(Exception):
    """S3 refused a request: its HTTP status and error ``code`` (the status itself when the answer has no body)."""

    def __init__(self, status: int, code: str, message: str = "") -> None:
        text = f"HTTP {status}" if code == str(status) else f"HTTP {status} {code}"
        if message:
            text += f": {message}"
        hint = _HINTS.get(code)
        if hint:
            text += f" ({hint})"
        super().__init__(text)
        self.status = status
        self.code = code

    @property
    def missing(self) -> bool:
        """The object (or the copy's source) does not exist."""
        return self.code in _MISSING

    @property
    def precondition_failed(self) -> bool:
        """An ``If-Match`` or ``x-amz-copy-source-if-match`` did not hold."""
        return self.code in _PRECONDITION_FAILED


def error_of(response: httpx.Response) -> S3Error | None:
    """The refusal ``response`` carries, or ``None`` when it succeeded."""
    body = response.content
    if response.status_code < 300:
        copy = "x-amz-copy-source" in response.request.headers
        if not (copy and _ERROR_BODY.match(body)):
            return None
        return S3Error(500, _field(_CODE, body) or "InternalError", _field(_MESSAGE, body))
    code = _field(_CODE, body)
    if not code:  # a HEAD answer, or a proxy's
        return S3Error(response.status_code, str(response.status_code), response.reason_phrase)
    return S3Error(response.status_code, code, _field(_MESSAGE, body))


def _field(pattern: re.Pattern[bytes], body: bytes) -> str:
    found = pattern.search(body)
    return html.unescape(found[1].decode(errors="replace")) if found else ""


def _transient(error: BaseException) -> bool:
    if isinstance(error, S3Error):
        return error.status >= 500 or error.code in _THROTTLED
    return isinstance(error, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError)


#: Every request the store sends is safe to repeat (whole-object PUT, conditional copy, HEAD, GET, DELETE).
RETRY = RetryPolicy(_transient, attempts=3, backoff_s=0.05)

#: Failures that end here become ``StoreUnavailable`` (503).
MAPPED = map_errors((httpx.HTTPError, S3Error), "S3 is unavailable")


def resolve_credentials(credentials: botocore.credentials.Credentials | None) -> botocore.credentials.Credentials:
    """``credentials``, else botocore's (environment, profile, role, SSO...); ``StoreUnavailable`` if none."""
    resolved = credentials or botocore.session.Session().get_credentials()
    if resolved is None:
        raise StoreUnavailable("no AWS credentials found (environment, profile or role)")
    return resolved


class SignedRequests:
    """SigV4-signed ``httpx.Request`` objects for the blobs of one location."""

    def __init__(self, location: S3Location) -> None:
        self.location = location
        self._origin = location.origin()
        self._host = host_header(self._origin)
        self._path = location.path_builder()

    def build(
        self,
        method: str,
        key: str,
        credentials: botocore.credentials.ReadOnlyCredentials,
        headers: Mapping[str, str],
        content: bytes = b"",
    ) -> httpx.Request:
        """``method`` on blob ``key``, with ``headers`` (lower-case names) and the body, signed now."""
        path = self._path(key)
        access_key, secret_key = credentials.access_key, credentials.secret_key
        if access_key is None or secret_key is None:
            raise StoreUnavailable("the AWS credentials lack an access key or a secret key")
        signed = sign_headers(
            method=method,
            host=self._host,
            path=path,
            headers=headers,
            # The body is whole in memory already: hashing it lets S3 check it arrived intact.
            payload_sha256=hashlib.sha256(content).hexdigest() if content else EMPTY_SHA256,
            access_key=access_key,
            secret_key=secret_key,
            token=credentials.token,
            region=self.location.region,
            amz_date=amz_date(int(time.time())),
        )
        request = httpx.Request(method, self._origin + path, headers=signed, content=content or None)
        if request.url.raw_path != path.encode():
            # httpx resolves "." and ".." segments: S3 would get another key than the one signed.
            raise ValueError(f"blob key {key!r} maps to a path that cannot be sent as it is")
        return request

    def copy_source(self, key: str) -> str:
        """The ``x-amz-copy-source`` naming blob ``key`` (percent-encoded as botocore does)."""
        return quote(f"{self.location.bucket}/{self.location.object_key(key)}", safe="/~")
