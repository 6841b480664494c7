"""S3 presigned-PUT signer and S3 blob stores (sync and async, on httpx) for upload-tickets."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from upload_tickets_s3._async._blobs import AsyncS3BlobStore
from upload_tickets_s3._lifecycle import apply_lifecycle_rule, lifecycle_rule
from upload_tickets_s3._location import S3Location
from upload_tickets_s3._signer import CredentialsExpireTooSoon, S3Signer, UploadUrlTooShort
from upload_tickets_s3._sync._blobs import S3BlobStore


def s3_client(location: S3Location, **client_options: Any) -> Any:
    """A boto3 S3 client addressing ``location`` the way the signer's URLs do (for admin steps: the lifecycle rule)."""
    config = Config(signature_version="s3v4", s3={"addressing_style": location.addressing}, retries={"max_attempts": 3})
    return boto3.client(
        "s3", region_name=location.region, endpoint_url=location.endpoint_url, config=config, **client_options
    )


__all__ = [
    "AsyncS3BlobStore",
    "CredentialsExpireTooSoon",
    "S3BlobStore",
    "S3Location",
    "S3Signer",
    "UploadUrlTooShort",
    "apply_lifecycle_rule",
    "lifecycle_rule",
    "s3_client",
]
