"""Where tickets' bytes live in S3, and how URLs address them."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Literal
from urllib.parse import quote, urlsplit

import attrs

# Bucket names that can go in a host name (lower case, no dots).
_VIRTUAL_HOST_BUCKET = re.compile(r"\A[a-z0-9][a-z0-9-]{1,61}[a-z0-9]\Z")
# Characters quote(..., safe="/~") leaves alone: such keys need no encoding.
_URL_SAFE = re.compile(r"\A[A-Za-z0-9_.~/-]*\Z")


@attrs.frozen
class S3Location:
    """A bucket, a key prefix for uploads, and how to reach them."""

    bucket: str
    region: str = "us-east-1"
    endpoint_url: str | None = None
    addressing: Literal["path", "virtual"] = "virtual"
    prefix: str = "uploads/"

    @property
    def endpoint(self) -> str:
        """The service endpoint: ``endpoint_url``, else AWS' as botocore picks it for the region."""
        if self.endpoint_url:
            return self.endpoint_url.rstrip("/")
        # botocore keeps the legacy global endpoint for us-east-1.
        return "https://s3.amazonaws.com" if self.region == "us-east-1" else f"https://s3.{self.region}.amazonaws.com"

    def __attrs_post_init__(self) -> None:
        if self.addressing == "virtual" and not _VIRTUAL_HOST_BUCKET.match(self.bucket):
            # A dotted bucket in a host name breaks TLS wildcard certificates.
            raise ValueError(f"bucket {self.bucket!r} cannot be virtual-hosted; use addressing='path'")

    @property
    def virtual(self) -> bool:
        """True when the bucket goes in the host name (never on an IP-address endpoint, as botocore)."""
        if self.addressing != "virtual":
            return False
        try:
            ipaddress.ip_address(urlsplit(self.endpoint).hostname or "")
        except ValueError:
            return True
        return False

    def object_key(self, blob_key: str) -> str:
        """The S3 key of a blob."""
        return f"{self.prefix}{blob_key}"

    def origin(self) -> str:
        """``scheme://netloc`` of object URLs."""
        parts = urlsplit(self.endpoint)
        netloc = f"{self.bucket}.{parts.netloc}" if self.virtual else parts.netloc
        return f"{parts.scheme}://{netloc}"

    def path(self, blob_key: str) -> str:
        """The percent-encoded URL path of a blob."""
        key = quote(self.object_key(blob_key), safe="/~")
        base = urlsplit(self.endpoint).path.rstrip("/")
        return f"{base}/{key}" if self.virtual else f"{base}/{self.bucket}/{key}"

    def path_builder(self) -> Callable[[str], str]:
        """:meth:`path` with the fixed part worked out once (for the signer's hot path)."""
        fixed = self.path("")
        return lambda blob_key: fixed + (blob_key if _URL_SAFE.match(blob_key) else quote(blob_key, safe="/~"))
