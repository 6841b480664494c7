"""``S3BlobStore``: the bytes in S3 (HEAD to confirm uploads, server-side copy to promote, delete on eviction)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any, BinaryIO

import botocore.exceptions

from upload_tickets import BlobInfo, NotFound, UploadChanged
from upload_tickets.backend_kit import map_errors, read_capped
from upload_tickets_s3._location import S3Location

_MISSING = {"404", "NoSuchKey", "NotFound"}
_PRECONDITION_FAILED = {"412", "PreconditionFailed"}

# botocore's errors end here: callers see ``StoreUnavailable`` (503).
_mapped_errors = map_errors((botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError), "S3 is unavailable")


def _code(error: botocore.exceptions.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code"))


def _missing(error: botocore.exceptions.ClientError) -> bool:
    return _code(error) in _MISSING


class S3BlobStore:
    """Blobs as objects at ``location.object_key(key)``; ``client`` is a boto3 S3 client."""

    def __init__(self, client: Any, location: S3Location) -> None:
        self.client = client
        self.location = location

    def put(self, key: str, chunks: Iterable[bytes], *, max_bytes: int, content_type: str) -> int:
        """Upload through the API (clients normally PUT to a presigned URL instead)."""
        data = read_capped(chunks, max_bytes)
        with _mapped_errors:
            self.client.put_object(
                Bucket=self.location.bucket, Key=self.location.object_key(key), Body=data, ContentType=content_type
            )
        return len(data)

    def head(self, key: str) -> BlobInfo | None:
        """Size, Content-Type and ETag S3 stored, or ``None``: how a direct upload is confirmed."""
        with _mapped_errors:
            try:
                answer = self.client.head_object(Bucket=self.location.bucket, Key=self.location.object_key(key))
            except botocore.exceptions.ClientError as error:
                if _missing(error):
                    return None
                raise
        return BlobInfo(
            size=int(answer["ContentLength"]), content_type=answer.get("ContentType"), etag=answer.get("ETag")
        )

    def open(self, key: str, *, etag: str | None = None) -> BinaryIO:
        """The object's bytes, read whole (classify seeks; HEAD already capped the size).

        With an ``etag`` the GET carries ``If-Match``, so S3 answers 412 (raised as
        ``UploadChanged``) rather than bytes replaced since that ETag was taken.
        """
        condition = {} if etag is None else {"IfMatch": etag}
        with _mapped_errors:
            try:
                answer = self.client.get_object(
                    Bucket=self.location.bucket, Key=self.location.object_key(key), **condition
                )
            except botocore.exceptions.ClientError as error:
                if _missing(error):
                    raise NotFound(f"no blob {key!r}", code="blob_not_found") from None
                if etag is not None and _code(error) in _PRECONDITION_FAILED:
                    raise UploadChanged(f"the bytes at {key!r} changed since they were checked") from None
                raise
            with answer["Body"] as body:
                data = body.read()
        # Servers that ignore If-Match on GET (s3rver) still send the ETag of the bytes they
        # return, in the same response: a mismatch is the same refusal, one body later.
        if etag is not None and answer.get("ETag") != etag:
            raise UploadChanged(f"the bytes at {key!r} changed since they were checked")
        return io.BytesIO(data)

    def promote(self, staged_key: str, key: str, *, etag: str | None) -> None:
        """Copy the staged object to ``key`` inside S3 (bytes and metadata); a no-op once ``key`` exists.

        With an ``etag`` the copy carries ``x-amz-copy-source-if-match``, so S3 itself refuses
        (412, raised as ``UploadChanged``) bytes replaced since they were checked, however
        late the replacement. A single copy takes objects up to 5 GB.
        """
        if self.head(key) is not None:
            return
        condition = {} if etag is None else {"CopySourceIfMatch": etag}
        with _mapped_errors:
            try:
                self.client.copy_object(
                    Bucket=self.location.bucket,
                    Key=self.location.object_key(key),
                    CopySource={"Bucket": self.location.bucket, "Key": self.location.object_key(staged_key)},
                    MetadataDirective="COPY",
                    **condition,
                )
            except botocore.exceptions.ClientError as error:
                refused = _code(error) in _PRECONDITION_FAILED
                if not (refused or _missing(error)):
                    raise
                # A racing promotion (a retry, the sweep) may have copied first, and the staged
                # object then gone or been replaced by a replayed PUT: that copy counts.
                if self.head(key) is not None:
                    return
                if refused:
                    raise UploadChanged(f"the bytes at {staged_key!r} changed since they were checked") from None
                raise NotFound(f"no blob {staged_key!r} to promote", code="blob_not_found") from None

    def delete(self, key: str) -> bool:
        """Delete the object; ``False`` if it was already gone."""
        if self.head(key) is None:
            return False
        with _mapped_errors:
            self.client.delete_object(Bucket=self.location.bucket, Key=self.location.object_key(key))
        return True


def lifecycle_rule(location: S3Location, *, days: int = 2) -> dict[str, Any]:
    """A bucket lifecycle rule expiring the upload prefix after ``days``: eviction's second line of defence.

    Tickets live 24 h and the sweeper deletes their bytes; this rule removes anything it
    missed (a crashed sweeper, an upload for a ticket that was never recorded, a PUT
    replayed after its ticket was consumed). It covers ``location.prefix`` only, never
    ``location.character_prefix``: characters' bytes are kept until the character is deleted.

    ``days`` must exceed the ticket TTL plus the longest promotion lag: a consumed upload
    is copied out of the prefix by the consume, or, if that was cut short, by the next
    sweep (one sweep interval later), and its staged bytes must still be there then.
    S3 counts from the object's creation, rounded up to midnight UTC.
    """
    return {
        "ID": f"upload-tickets-expire-{location.prefix.strip('/') or 'all'}",
        "Filter": {"Prefix": location.prefix},
        "Status": "Enabled",
        "Expiration": {"Days": days},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }


def apply_lifecycle_rule(client: Any, location: S3Location, *, days: int = 2) -> dict[str, Any]:
    """Install :func:`lifecycle_rule` on the bucket (keeping other rules) and return it."""
    rule = lifecycle_rule(location, days=days)
    with _mapped_errors:
        try:
            current = client.get_bucket_lifecycle_configuration(Bucket=location.bucket).get("Rules", [])
        except botocore.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
                raise
            current = []
        rules = [r for r in current if r.get("ID") != rule["ID"]] + [rule]
        client.put_bucket_lifecycle_configuration(Bucket=location.bucket, LifecycleConfiguration={"Rules": rules})
    return rule
