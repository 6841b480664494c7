"""``S3BlobStore``: the bytes in S3 (HEAD to confirm uploads, delete on eviction)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import botocore.exceptions

from upload_tickets import BlobInfo, NotFound, StoreUnavailable, read_capped
from upload_tickets_s3._location import S3Location

_MISSING = {"404", "NoSuchKey", "NotFound"}


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """botocore's errors end here: callers see ``StoreUnavailable`` (503)."""
    try:
        yield
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        raise StoreUnavailable(f"S3 is unavailable: {error}") from error


def _missing(error: botocore.exceptions.ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _MISSING


class S3BlobStore:
    """Blobs as objects under ``location.prefix``; ``client`` is a boto3 S3 client."""

    def __init__(self, client: Any, location: S3Location) -> None:
        self.client = client
        self.location = location

    def put(self, key: str, chunks: Iterable[bytes], *, max_bytes: int, content_type: str) -> int:
        """Upload through the API (clients normally PUT to a presigned URL instead)."""
        data = read_capped(chunks, max_bytes)
        with _mapped_errors():
            self.client.put_object(
                Bucket=self.location.bucket, Key=self.location.object_key(key), Body=data, ContentType=content_type
            )
        return len(data)

    def head(self, key: str) -> BlobInfo | None:
        """Size and Content-Type S3 stored, or ``None``: how a direct upload is confirmed."""
        with _mapped_errors():
            try:
                answer = self.client.head_object(Bucket=self.location.bucket, Key=self.location.object_key(key))
            except botocore.exceptions.ClientError as error:
                if _missing(error):
                    return None
                raise
        return BlobInfo(size=int(answer["ContentLength"]), content_type=answer.get("ContentType"))

    def open(self, key: str) -> BinaryIO:
        """The object's bytes (read whole: classify seeks, and HEAD already capped the size)."""
        with _mapped_errors():
            try:
                answer = self.client.get_object(Bucket=self.location.bucket, Key=self.location.object_key(key))
            except botocore.exceptions.ClientError as error:
                if _missing(error):
                    raise NotFound(f"no blob {key!r}", code="blob_not_found") from None
                raise
            with answer["Body"] as body:
                return io.BytesIO(body.read())

    def delete(self, key: str) -> bool:
        """Delete the object; ``False`` if it was already gone."""
        if self.head(key) is None:
            return False
        with _mapped_errors():
            self.client.delete_object(Bucket=self.location.bucket, Key=self.location.object_key(key))
        return True


def lifecycle_rule(location: S3Location, *, days: int = 2) -> dict[str, Any]:
    """A bucket lifecycle rule expiring the upload prefix after ``days``: eviction's second line of defence.

    Tickets live 24 h and the sweeper deletes their bytes; this rule removes anything it
    missed (a crashed sweeper, an upload for a ticket that was never recorded).
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
    with _mapped_errors():
        try:
            current = client.get_bucket_lifecycle_configuration(Bucket=location.bucket).get("Rules", [])
        except botocore.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
                raise
            current = []
        rules = [r for r in current if r.get("ID") != rule["ID"]] + [rule]
        client.put_bucket_lifecycle_configuration(Bucket=location.bucket, LifecycleConfiguration={"Rules": rules})
    return rule
