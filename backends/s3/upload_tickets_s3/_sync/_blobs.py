# Generated from the _async folder by scripts/unasync.py: edit that source, then run it.
"""``S3BlobStore``: the bytes in S3 (HEAD to confirm uploads, server-side copy to promote, delete on eviction).

Each request is signed here (SigV4 headers, ``upload_tickets_s3._sigv4``) and sent on
one pooled ``httpx.Client``.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from types import MappingProxyType, TracebackType
from typing import BinaryIO, Self

import botocore.credentials
import httpx

from upload_tickets import BlobInfo, NotFound, UploadChanged
from upload_tickets_s3._http import MAPPED, RETRY, TIMEOUT, S3Error, SignedRequests, error_of, resolve_credentials
from upload_tickets_s3._location import S3Location
from upload_tickets_s3._sync._primitives import frozen_credentials, read_body, sleep, to_the_end

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class S3BlobStore:
    """Blobs as objects at ``location.object_key(key)``.

    ``credentials`` default to botocore's (environment, profile, role...), refreshed
    when due. ``client`` is an HTTP client to share; without one the store makes its
    own, and ``close()`` closes only that.
    """

    def __init__(
        self,
        location: S3Location,
        *,
        credentials: botocore.credentials.Credentials | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.location = location
        self.client = client if client is not None else httpx.Client(timeout=TIMEOUT)
        self._owns_client = client is None
        self._credentials = resolve_credentials(credentials)
        self._requests = SignedRequests(location)

    def close(self) -> None:
        """Close the HTTP client if the store made it."""
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def put(self, key: str, chunks: Iterable[bytes], *, max_bytes: int, content_type: str) -> int:
        """Upload through the API (clients normally PUT to a presigned URL instead)."""
        data = read_body(chunks, max_bytes)
        with MAPPED:
            self._send("PUT", key, {"content-type": content_type}, data)
        return len(data)

    def head(self, key: str) -> BlobInfo | None:
        """Size, Content-Type and ETag S3 stored, or ``None``: how a direct upload is confirmed."""
        with MAPPED:
            try:
                answer = self._send("HEAD", key)
            except S3Error as error:
                if error.missing:
                    return None
                raise
        headers = answer.headers
        return BlobInfo(
            size=int(headers["content-length"]), content_type=headers.get("content-type"), etag=headers.get("etag")
        )

    def open(self, key: str, *, etag: str | None = None) -> BinaryIO:
        """The object's bytes, read whole (classify seeks; HEAD already capped the size).

        With an ``etag`` the GET carries ``If-Match``, so S3 answers 412 (raised as
        ``UploadChanged``) rather than bytes replaced since that ETag was taken.
        """
        condition = _NO_HEADERS if etag is None else {"if-match": etag}
        with MAPPED:
            try:
                answer = self._send("GET", key, condition)
            except S3Error as error:
                if error.missing:
                    raise NotFound(f"no blob {key!r}", code="blob_not_found") from None
                if etag is not None and error.precondition_failed:
                    raise UploadChanged(f"the bytes at {key!r} changed since they were checked") from None
                raise
        # Servers that ignore If-Match on GET (s3rver) still send the ETag of the bytes they
        # return, in the same response: a mismatch is the same refusal, one body later.
        if etag is not None and answer.headers.get("etag") != etag:
            raise UploadChanged(f"the bytes at {key!r} changed since they were checked")
        return io.BytesIO(answer.content)

    def promote(self, staged_key: str, key: str, *, etag: str | None) -> None:
        """Copy the staged object to ``key`` inside S3 (bytes and metadata); a no-op once ``key`` exists.

        With an ``etag`` the copy carries ``x-amz-copy-source-if-match``, so S3 itself refuses
        (412, raised as ``UploadChanged``) bytes replaced since they were checked, however
        late the replacement. A single copy takes objects up to 5 GB.
        """
        if self.head(key) is not None:
            return
        copy = {"x-amz-copy-source": self._requests.copy_source(staged_key), "x-amz-metadata-directive": "COPY"}
        if etag is not None:
            copy["x-amz-copy-source-if-match"] = etag
        with MAPPED:
            try:
                self._send("PUT", key, copy)
            except S3Error as error:
                if not (error.precondition_failed or error.missing):
                    raise
                # A racing promotion (a retry, the sweep) may have copied first, and the staged
                # object then gone or been replaced by a replayed PUT: that copy counts.
                if self.head(key) is not None:
                    return
                if error.precondition_failed:
                    raise UploadChanged(f"the bytes at {staged_key!r} changed since they were checked") from None
                raise NotFound(f"no blob {staged_key!r} to promote", code="blob_not_found") from None

    def delete(self, key: str) -> bool:
        """Delete the object; ``False`` if it was already gone."""
        if self.head(key) is None:
            return False
        with MAPPED:
            self._send("DELETE", key)
        return True

    def _send(
        self, method: str, key: str, headers: Mapping[str, str] = _NO_HEADERS, content: bytes = b""
    ) -> httpx.Response:
        """The answer to one signed request, sent again while it fails transiently; ``S3Error`` if S3 refuses it."""
        attempt = 0
        while True:
            attempt += 1
            credentials = frozen_credentials(self._credentials)
            request = self._requests.build(method, key, credentials, headers, content)
            try:
                # S3 refuses a body cut short of its Content-Length, but compatible servers
                # (s3rver) may store what arrived: once started, a PUT is sent whole.
                answer = to_the_end(self._exchange, request) if content else self._exchange(request)
            except httpx.TransportError as error:
                failure: S3Error | httpx.TransportError = error
            else:
                refused = error_of(answer)
                if refused is None:
                    return answer
                failure = refused
            delay = RETRY.delay(failure, attempt)
            if delay is None:
                raise failure
            sleep(delay)

    def _exchange(self, request: httpx.Request) -> httpx.Response:
        # The request is signed whole: no client-level auth or redirect may change it.
        return self.client.send(request, auth=None, follow_redirects=False)
